"""The store: migrations on open, each data function, conflicts, concurrency.

Every test that takes ``store`` or ``url`` runs on SQLite, and on PostgreSQL too when
``PROMPTOPS_TEST_POSTGRES_URL`` is set (each test then gets a schema of its own, dropped after).
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from promptops.config import Config
from promptops.errors import NotFoundError, StoreError
from promptops.store import ConflictError, Store, db, hash_key, open_store
from promptops.store.models import ApiKeyPublic, metadata

PG_URL = os.environ.get("PROMPTOPS_TEST_POSTGRES_URL")
TABLES = {"prompt_versions", "eval_runs", "eval_results", "cache_entries", "deployments", "call_logs",
          "feedback", "finetune_jobs", "api_keys"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'promptops.db'}"
        db.dispose_engines()
        return
    if not PG_URL:
        pytest.skip("set PROMPTOPS_TEST_POSTGRES_URL to run the PostgreSQL tests")
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(db.normalize_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield db.normalize_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)
    db.dispose_engines()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file to copy: creating the tables costs more than most tests."""
    path = tmp_path_factory.mktemp("template") / "promptops.db"
    open_store(f"sqlite:///{path}")
    db.dispose_engines()
    return path


@pytest.fixture
def store(url, sqlite_template) -> Store:
    """A store on a database at head (the open-and-migrate path itself is tested with ``url``)."""
    if url.startswith("sqlite:///"):
        target = Path(url.removeprefix("sqlite:///"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_template, target)
    return open_store(url)


def make_run(store: Store, **kw) -> int:
    fields = dict(prompt="greet", version="abc123def456", hash="h" * 64, models=["m1", "m2"],
                  fingerprint="fp1", suite_hash="s1", source="cli")
    return store.create_run(**{**fields, **kw}).id


def result(run_id: int, case: str, model: str = "m1", rep: int = 0, **kw) -> dict:
    return {"run_id": run_id, "prompt": "greet", "version": "abc123def456", "model": model,
            "case_id": case, "repeat_index": rep, "vars": {"name": case}, "expected": "hi",
            "output": "hi", "passed": True, "score": 1.0, **kw}


# --- opening and migrating ---


def test_open_creates_tables_at_head(url):
    store = open_store(url)
    names = set(sa.inspect(store.engine).get_table_names())
    assert names == TABLES | {"alembic_version"}
    assert db.current_revision(store.engine) == db.head_revision() is not None


def test_open_twice_is_a_noop(url):
    store = open_store(url)
    make_run(store)
    db._migrated.clear()  # force the migration path again, not just the in-process shortcut
    again = open_store(url)
    assert db.current_revision(again.engine) == db.head_revision()
    assert [r.id for r in again.list_runs()] == [1]


def test_models_match_migrations(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == [], "models.py and migrations/versions differ: add a migration"


def test_a_new_migration_is_applied_on_open(url, tmp_path):
    store = open_store(url)
    scripts = tmp_path / "migrations"
    shutil.copytree(db.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_extra.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n"
        f"revision = '9999'\ndown_revision = '{db.HEAD_REVISION}'\nbranch_labels = None\ndepends_on = None\n\n"
        "def upgrade():\n    op.create_table('extra', sa.Column('id', sa.Integer, primary_key=True))\n"
        "    op.add_column('api_keys', sa.Column('note', sa.String(), nullable=True))\n")
    db.migrate(store.engine, script_location=scripts)
    assert db.current_revision(store.engine) == "9999" == db.head_revision(scripts)
    inspector = sa.inspect(store.engine)
    assert "extra" in inspector.get_table_names()
    assert "note" in {c["name"] for c in inspector.get_columns("api_keys")}
    db.migrate(store.engine, script_location=scripts)  # at head: nothing to do


def _open_and_count(url: str, queue) -> None:
    try:
        store = open_store(url)
        queue.put(len(sa.inspect(store.engine).get_table_names()))
    except Exception as exc:  # pragma: no cover - reported to the parent
        queue.put(repr(exc))


def test_fresh_database_opened_by_several_processes_at_once(url):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_open_and_count, args=(url, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert outcomes == [len(TABLES) + 1] * 4


def test_open_from_config_creates_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMPTOPS_DATABASE_URL", raising=False)
    config = Config()
    config.root = tmp_path
    store = open_store(config)
    assert (tmp_path / ".promptops" / "promptops.db").is_file()
    assert store.dialect == "sqlite"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    db.dispose_engines()


@pytest.mark.parametrize("bad, words", [
    ("not a url", "not a database URL"),
    ("mysql://u@localhost/x", "unsupported database"),
])
def test_open_rejects_bad_urls(bad, words):
    with pytest.raises(StoreError, match=words) as err:
        open_store(bad)
    assert err.value.hint


def test_open_unreachable_postgres_hides_the_password():
    with pytest.raises(StoreError, match="cannot open") as err:
        open_store("postgresql://me:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=2")
    assert "s3cret-pw" not in str(err.value)
    assert "PostgreSQL running" in err.value.hint


def test_open_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot"):
        open_store(f"sqlite:///{path}")


def test_open_under_a_file_fails_clearly(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the database folder"):
        open_store(f"sqlite:///{tmp_path / 'file' / 'sub' / 'x.db'}")


def test_in_memory_sqlite_works():
    store = open_store("sqlite://")
    make_run(store)
    assert len(store.list_runs()) == 1
    db.dispose_engines()


# --- prompt versions ---


def test_record_prompt_version_is_idempotent(store):
    for _ in range(2):
        store.record_prompt_version(name="greet", version="abc", hash="h1", content="x", path="prompts/greet.prompt")
    store.record_prompt_version(name="greet", version="def", hash="h2", content="y", path="prompts/greet.prompt")
    assert [v.hash for v in store.prompt_versions(name="greet")] == ["h1", "h2"]
    assert store.prompt_versions(name="other") == []


# --- runs and results ---


def test_runs_create_find_finish_list(store):
    first = make_run(store, branch="main")
    second = make_run(store, status="interrupted", models=["gpt-4o_mini"])
    make_run(store, fingerprint="fp2")
    assert store.find_unfinished_run("fp1").id == second
    store.finish_run(second, status="finished", summary={"m1": {"accuracy": 0.5}})
    assert store.find_unfinished_run("fp1").id == first
    assert store.find_unfinished_run("nope") is None

    run = store.get_run(second)
    assert run.status == "finished" and run.summary == {"m1": {"accuracy": 0.5}}
    assert run.finished_at.tzinfo is not None and run.started_at <= run.finished_at
    assert run.models == ["gpt-4o_mini"]

    assert [r.id for r in store.list_runs()] == [3, 2, 1]
    assert [r.id for r in store.list_runs(branch="main")] == [first]
    assert [r.id for r in store.list_runs(model="gpt-4o_mini")] == [second]
    assert [r.id for r in store.list_runs(model="gpt-4o")] == []  # whole names only, "_" literal
    assert [r.id for r in store.list_runs(model="m1", limit=1)] == [3]
    assert store.list_runs(prompt="other") == []


def test_run_errors(store):
    with pytest.raises(NotFoundError):
        store.get_run(99)
    with pytest.raises(NotFoundError):
        store.finish_run(99, status="failed")
    with pytest.raises(ValueError, match="run status"):
        store.finish_run(make_run(store), status="done")
    with pytest.raises(ValueError, match="run status"):
        make_run(store, status="weird")


def test_add_results_ignores_conflicts_and_tracks_done(store):
    run = make_run(store)
    store.add_results([result(run, "a"), result(run, "b"), result(run, "c", error="timeout", output=None,
                                                                        passed=None)])
    store.add_results([result(run, "a", output="changed"), result(run, "a", model="m2"),
                       result(run, "a", rep=1)])
    rows = store.results(run)
    assert len(rows) == 5
    assert next(r for r in rows if (r.case_id, r.model, r.repeat_index) == ("a", "m1", 0)).output == "hi"
    assert rows[0].vars == {"name": "a"} and rows[0].expected == "hi" and rows[0].created_at.tzinfo
    assert store.done_keys(run) == {("m1", "a", 0), ("m1", "b", 0), ("m2", "a", 0), ("m1", "a", 1)}
    assert ("m1", "c", 0) in store.done_keys(run, include_errors=True)

    # A resume retries errored calls: the retry replaces the error; a second error replaces it too.
    store.add_results([result(run, "c", error="rate limit", output=None, passed=None)])
    assert next(r for r in store.results(run) if r.case_id == "c").error == "rate limit"
    store.add_results([result(run, "c", output="fixed")])
    assert next(r for r in store.results(run) if r.case_id == "c").output == "fixed"
    assert store.done_keys(run) == store.done_keys(run, include_errors=True)
    store.add_results([result(run, "c", error="late duplicate")])  # never over a finished row
    assert next(r for r in store.results(run) if r.case_id == "c").error is None
    assert len(store.results(run)) == 5
    assert store.results(make_run(store)) == []


def test_add_results_rejects_incomplete_rows(store):
    run = make_run(store)
    with pytest.raises(ValueError, match="lacks case_id"):
        store.add_results([{"run_id": run, "prompt": "p", "version": "v", "model": "m"}])
    with pytest.raises(ValueError, match="unknown result fields: bogus"):
        store.add_results([result(run, "a", bogus=1)])
    store.add_results([])
    assert store.results(run) == []


def test_add_results_is_fast(store):
    run = make_run(store)
    rows = [result(run, f"case-{i}", model=f"m{i % 3}") for i in range(3000)]
    start = time.perf_counter()
    store.add_results(rows)
    elapsed = time.perf_counter() - start
    assert len(store.done_keys(run)) == 3000
    if store.dialect == "sqlite":
        assert elapsed < 1.0, f"3,000 results took {elapsed:.2f} s"


# --- response cache ---


def test_cache_roundtrip(store):
    response = {"text": "hello", "prompt_tokens": 3, "completion_tokens": 1, "cost_usd": 0.0, "latency_ms": 5.0}
    store.cache_put_many({"k1": ("m1", response), "k2": ("m2", {**response, "text": "bye"})})
    store.cache_put_many({"k1": ("m1", {**response, "text": "overwritten?"})})
    store.cache_put_many({})
    got = store.cache_get_many(["k1", "k2", "missing"])
    assert got == {"k1": response, "k2": {**response, "text": "bye"}}
    assert store.cache_get_many([]) == {}
    many = {f"key{i}": ("m", {"text": str(i)}) for i in range(1200)}
    store.cache_put_many(many)
    assert len(store.cache_get_many(list(many))) == 1200


# --- deployments ---


def deploy(store: Store, version: str, **kw):
    fields = dict(prompt="greet", env="production", version=version, hash=version * 8, model="m1",
                  score=0.9, threshold=0.8, reason="passed", actor="alice")
    return store.add_deployment(**{**fields, **kw})


def test_deployments_current_and_history(store):
    assert store.current_deployment("greet", "production") is None
    first = deploy(store, "v1")
    deploy(store, "v9", env="staging")
    second = deploy(store, "v2")
    back = deploy(store, "v1", rollback_of=second.id, reason="rollback")
    current = store.current_deployment("greet", "production")
    assert (current.id, current.version, current.rollback_of) == (back.id, "v1", second.id)
    assert current.created_at.tzinfo is not None
    assert [d.version for d in store.deployment_history(prompt="greet", env="production")] == ["v1", "v2", "v1"]
    assert len(store.deployment_history()) == 4
    assert [d.env for d in store.deployment_history(env="staging")] == ["staging"]
    assert store.deployment_history(prompt="greet", limit=1)[0].id == back.id
    assert first.id < second.id


def test_deployment_moves_only_from_the_expected_label(store):
    first = deploy(store, "v1", expect_current_id=0)
    with pytest.raises(ConflictError) as err:
        deploy(store, "v2", expect_current_id=0)
    assert err.value.http_status == 409
    with pytest.raises(ConflictError):
        deploy(store, "v2", expect_current_id=first.id + 100)
    assert store.current_deployment("greet", "production").id == first.id
    assert len(store.deployment_history()) == 1
    assert deploy(store, "v2", expect_current_id=first.id).version == "v2"


def test_a_failed_deployment_leaves_the_label(store):
    deploy(store, "v1")
    with pytest.raises(Exception):
        deploy(store, "v2", model=None)  # NOT NULL: the whole transaction rolls back
    assert store.current_deployment("greet", "production").version == "v1"
    assert len(store.deployment_history()) == 1


def test_concurrent_label_moves_stay_linear(store):
    """Racing promoters that each read the label then move it: never two moves from one state."""
    moves: list[tuple[int, int]] = []  # (the id it moved from, the new id)
    errors: list[Exception] = []

    def promote(n: int) -> None:
        for _ in range(5):
            current = store.current_deployment("greet", "production")
            expected = current.id if current else 0
            try:
                moves.append((expected, deploy(store, f"v{n}", expect_current_id=expected).id))
            except ConflictError:
                pass
            except Exception as exc:  # pragma: no cover
                errors.append(exc)

    threads = [threading.Thread(target=promote, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and moves
    moves.sort(key=lambda m: m[1])
    assert [m[0] for m in moves] == [0] + [m[1] for m in moves[:-1]]  # one chain, no forks
    assert len(store.deployment_history()) == len(moves)


# --- logged calls and feedback ---


def log(store: Store, **kw):
    fields = dict(prompt="greet", version="v1", model="m1", env="production", variables={"name": "Ann"},
                  messages=[{"role": "user", "content": "hi Ann"}], output="hello", latency_ms=12.5,
                  prompt_tokens=4, completion_tokens=1, cost_usd=0.0)
    return store.log_call(**{**fields, **kw})


def test_calls_and_feedback(store):
    call = log(store)
    assert len(call.id) == 32 and store.get_call(call.id).messages[0]["content"] == "hi Ann"
    fb = store.add_feedback(call.id, score=1.0, label="positive", correction="hello Ann", comment="ok")
    store.add_feedback(call.id, score=0.0)
    other = log(store, model="m2", version="v2")
    found = store.feedback_for([call.id, other.id, "unknown"])
    assert list(found) == [call.id]
    assert [f.id for f in found[call.id]] == [fb.id, fb.id + 1]
    assert found[call.id][0].correction == "hello Ann" and found[call.id][0].created_at.tzinfo
    assert store.feedback_for([]) == {}


def test_call_errors(store):
    with pytest.raises(NotFoundError):
        store.get_call("nope")
    with pytest.raises(NotFoundError, match="logged call"):
        store.add_feedback("nope", score=1.0)


def test_list_calls_filters(store):
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    calls = [log(store, created_at=base + timedelta(minutes=i), model=f"m{i % 2}", version=f"v{i % 3}")
             for i in range(6)]
    log(store, prompt="other")
    store.add_feedback(calls[1].id, label="bad")
    ids = lambda rows: [c.id for c in rows]  # noqa: E731
    assert ids(store.list_calls(prompt="greet")) == ids(reversed(calls))
    assert ids(store.list_calls(prompt="greet", model="m0")) == [calls[4].id, calls[2].id, calls[0].id]
    assert ids(store.list_calls(version="v1", prompt="greet")) == [calls[4].id, calls[1].id]
    assert ids(store.list_calls(has_feedback=True)) == [calls[1].id]
    assert calls[1].id not in ids(store.list_calls(has_feedback=False))
    assert len(store.list_calls(has_feedback=False)) == 6
    window = store.list_calls(since=base + timedelta(minutes=2), until=base + timedelta(minutes=4))
    assert ids(window) == [calls[3].id, calls[2].id]
    naive = store.list_calls(since=datetime(2025, 1, 1, 0, 5), prompt="greet")  # naive = UTC
    assert ids(naive) == [calls[5].id]
    assert ids(store.list_calls(prompt="greet", limit=2, offset=1)) == [calls[4].id, calls[3].id]


# --- fine-tune jobs ---


def test_jobs(store):
    job = store.create_job(prompt="greet", base_model="local/smollm2", dataset="datasets/finetune/greet",
                           config={"r": 8, "epochs": 2})
    assert job.id.startswith("ft-") and len(job.id) == 11 and job.status == "queued"
    now = datetime.now(timezone.utc)
    store.update_job(job.id, status="running", pid=1234, started_at=now, heartbeat_at=now,
                     progress={"step": 3, "of": 10})
    got = store.get_job(job.id)
    assert (got.status, got.pid, got.progress, got.config) == ("running", 1234, {"step": 3, "of": 10},
                                                               {"r": 8, "epochs": 2})
    assert abs((got.heartbeat_at - now).total_seconds()) < 1e-3
    store.create_job(prompt="other", base_model="b", dataset="d")
    assert [j.id for j in store.list_jobs(prompt="greet")] == [job.id]
    assert len(store.list_jobs()) == 2


def test_job_errors(store):
    with pytest.raises(NotFoundError):
        store.get_job("ft-00000000")
    with pytest.raises(NotFoundError):
        store.update_job("ft-00000000", status="failed")
    job = store.create_job(prompt="p", base_model="b", dataset="d")
    with pytest.raises(ValueError, match="cannot set job fields: id, nonsense"):
        store.update_job(job.id, id="x", nonsense=1)
    with pytest.raises(ValueError, match="job status"):
        store.update_job(job.id, status="exploded")
    with pytest.raises(ValueError, match="job status"):
        store.create_job(prompt="p", base_model="b", dataset="d", status="exploded")


# --- API keys ---


def test_api_keys(store):
    plain, key = store.create_api_key("write", name="ci")
    assert plain.startswith("po_") and key.prefix == plain[:8] and key.key_hash == hash_key(plain)
    assert store.verify_api_key(plain).id == key.id
    assert store.verify_api_key(plain + "x") is None
    assert store.verify_api_key("") is None
    public = ApiKeyPublic.model_validate(key, from_attributes=True).model_dump()
    assert "key_hash" not in public and public["scope"] == "write"
    store.revoke_api_key(key.id)
    assert store.verify_api_key(plain) is None
    assert [(k.name, k.revoked) for k in store.list_api_keys()] == [("ci", True)]


def test_api_key_errors(store):
    with pytest.raises(ValueError, match="scope"):
        store.create_api_key("root")
    with pytest.raises(NotFoundError):
        store.revoke_api_key(42)


def test_plain_api_key_never_reaches_the_database_file(tmp_path):
    path = tmp_path / "keys.db"
    store = open_store(f"sqlite:///{path}")
    plain, key = store.create_api_key("admin")
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("keys.db"))
    assert key.key_hash.encode() in data  # the hash is there, so we looked in the right place
    assert plain.encode() not in data and plain[8:].encode() not in data
    db.dispose_engines()


# --- concurrency ---


def _write_many(url: str, run_id: int, worker: int, n: int) -> None:
    """``n`` single-row transactions from a Store of this process's own: results and calls in turn."""
    store = open_store(url)
    for i in range(n):
        if i % 2:
            store.log_call(prompt="greet", version="v1", model=f"w{worker}", variables={"i": i})
        else:
            store.add_results([result(run_id, f"w{worker}-{i}")])


def test_two_processes_lose_no_rows(store, url):
    run = make_run(store)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(url, run, w, 500)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    results, calls = len(store.results(run)), len(store.list_calls(limit=5000))
    assert (results, calls) == (500, 500)
    assert results + calls == 1000


def test_rows_come_back_detached(store):
    run = store.get_run(make_run(store))
    db.dispose_engines()  # no session or connection behind the row any more
    assert run.models == ["m1", "m2"] and run.prompt == "greet"


def test_state_folder_is_created_for_sqlite_urls(tmp_path):
    target = tmp_path / "a" / "b" / "x.db"
    open_store(f"sqlite:///{target}")
    assert target.is_file()
    db.dispose_engines()


def test_head_revision_constant_matches_the_migrations():
    """db.HEAD_REVISION lets an up-to-date database open without Alembic; it must name the newest migration."""
    assert db.HEAD_REVISION == db.head_revision()


# ---------------------------------------------------------------- the runner's sqlite3 path


def _runner_writes(target) -> int:
    """The writes an eval makes, through ``target`` (a Store or the sqlite3 path); returns the run id."""
    target.record_prompt_version(name="p", version="abc", hash="h1", content="system:\nhi", path="prompts/p.prompt")
    target.record_prompt_version(name="p", version="abc", hash="h1", content="system:\nhi", path="prompts/p.prompt")
    run = target.create_run(prompt="p", version="abc", hash="h1", ref="main", commit="c0ffee", branch="main",
                            models=["m1", "m2"], repeat=1, fingerprint="fp", suite_hash="sh", status="running",
                            source="cli")
    rows = [
        {"run_id": run.id, "prompt": "p", "version": "abc", "model": "m1", "case_id": "a", "vars": {"q": "é"},
         "expected": "x", "output": "x", "passed": True, "score": 1.0, "reason": "ok", "cached": True,
         "latency_ms": 12.5, "prompt_tokens": 3, "completion_tokens": 1, "cost_usd": None},
        {"run_id": run.id, "prompt": "p", "version": "abc", "model": "m1", "case_id": "b", "vars": {},
         "expected": None, "error": "timeout: no answer", "reason": "provider error"},
        {"run_id": run.id, "prompt": "p", "version": "abc", "model": "m2", "case_id": "a",
         "vars": {"n": [1, 2]}, "expected": {"k": 1}, "output": "y", "passed": False, "score": 0.0},
    ]
    target.add_results(rows)
    # a retry replaces the error row; a second answer for a finished case is ignored
    target.add_results([{**rows[1], "error": None, "output": "z", "passed": True, "score": 1.0, "reason": "ok"},
                        {**rows[0], "output": "changed"}])
    target.cache_put_many({"k1": ("m1", {"text": "x", "latency_ms": 1.0}), "k2": ("m2", {"text": "y"})})
    target.cache_put_many({"k1": ("m1", {"text": "other"})})
    target.finish_run(run.id, status="finished", summary={"m1": {"accuracy": 1.0}, "m2": {"accuracy": 0.0}})
    return run.id


def _comparable(row) -> dict:
    data = row.model_dump()
    for key in ("id", "run_id", "created_at", "started_at", "finished_at", "first_seen"):
        data.pop(key, None)
    return data


def _orm_results(store: Store, run_id: int) -> list:
    """A run's results through the ORM (Store.results itself runs the runner's SQL)."""
    from sqlmodel import select

    from promptops.store.models import EvalResult

    with store.reading() as session:
        return list(session.exec(select(EvalResult).where(EvalResult.run_id == run_id).order_by(EvalResult.id)))


def test_lite_store_writes_what_the_store_writes(tmp_path, sqlite_template):
    """The runner's sqlite3 path and the SQLAlchemy store, same writes, read back through Store."""
    from promptops.store.evals import SqlEvalStore
    from promptops.store.lite import open_lite

    urls = []
    for name in ("orm", "lite"):
        path = tmp_path / name / "promptops.db"
        path.parent.mkdir()
        shutil.copyfile(sqlite_template, path)
        urls.append(f"sqlite:///{path}")
    lite = open_lite(urls[1])
    assert isinstance(lite, SqlEvalStore) and lite.dialect.name == "sqlite"
    before = datetime.now(timezone.utc)
    ids = [_runner_writes(open_store(urls[0])), _runner_writes(lite)]
    stores = [open_store(u) for u in urls]
    runs = [s.get_run(i) for s, i in zip(stores, ids)]
    assert _comparable(runs[0]) == _comparable(runs[1])
    assert runs[1].status == "finished" and before <= runs[1].started_at <= runs[1].finished_at
    results = [[_comparable(r) for r in _orm_results(s, i)] for s, i in zip(stores, ids)]
    assert results[0] == results[1] and len(results[1]) == 3
    assert [r.created_at.tzinfo for r in _orm_results(stores[1], ids[1])] == [timezone.utc] * 3
    by_case = {(r["model"], r["case_id"]): r for r in results[1]}
    assert by_case[("m1", "b")]["output"] == "z" and by_case[("m1", "b")]["error"] is None
    assert by_case[("m1", "a")]["output"] == "x" and by_case[("m1", "a")]["vars"] == {"q": "é"}
    assert by_case[("m2", "a")]["expected"] == {"k": 1}
    assert [_comparable(v) for v in stores[0].prompt_versions()] == [_comparable(v) for v in stores[1].prompt_versions()]
    assert stores[0].cache_get_many(["k1", "k2"]) == stores[1].cache_get_many(["k1", "k2"]) == lite.cache_get_many(
        ["k1", "k2", "missing"]) == {"k1": {"text": "x", "latency_ms": 1.0}, "k2": {"text": "y"}}
    assert lite.done_keys(ids[1]) == stores[0].done_keys(ids[0]) == stores[1].done_keys(ids[1]) == {
        ("m1", "a", 0), ("m1", "b", 0), ("m2", "a", 0)}
    lite_rows = [vars(r) for r in lite.results(ids[1])]
    orm_rows = [r.model_dump() for r in _orm_results(stores[1], ids[1])]
    assert lite_rows == orm_rows  # timestamps too: one encoding, both ways
    with pytest.raises(ValueError, match="run status"):
        lite.finish_run(ids[1], status="done")
    with pytest.raises(ValueError, match="lacks"):
        lite.add_results([{"run_id": ids[1], "prompt": "p"}])
    lite.close()


def test_lite_store_only_for_a_sqlite_file_at_head(tmp_path, sqlite_template):
    from promptops.store.lite import open_lite

    assert open_lite("sqlite://") is None and open_lite("sqlite:///:memory:") is None
    assert open_lite("postgresql://u@localhost/db") is None
    assert open_lite(f"sqlite:///{tmp_path / 'missing.db'}") is None
    other = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    assert open_lite(f"sqlite:///{other}") is None  # not a promptops database
    old = tmp_path / "old.db"
    shutil.copyfile(sqlite_template, old)
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000'")
    assert open_lite(f"sqlite:///{old}") is None  # Store migrates it first
    assert open_lite(f"sqlite:///{sqlite_template}?mode=ro") is None


def test_a_cached_eval_imports_neither_sqlalchemy_nor_litellm(tmp_path):
    """Once the database exists, an eval answered from the cache runs on sqlite3 alone."""
    import subprocess
    import sys

    from promptops.config import load_config
    from promptops.eval.evaluate import evaluate
    from promptops.testing.fake_openai import FakeOpenAI

    from .helpers import capital_rules, make_project

    with FakeOpenAI(rules=capital_rules()) as server:
        root = make_project(tmp_path, server.base_url)
        first = evaluate(load_config(root)).summaries[0]
        code = ("import sys; from promptops.config import load_config; from promptops.eval.evaluate import evaluate; "
                f"r = evaluate(load_config({str(root)!r})); s = r.summaries[0]; "
                "print(r.cached, s.passed, [m for m in ('sqlalchemy', 'sqlmodel', 'alembic', 'litellm') "
                "if m in sys.modules])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
        assert out.stdout.split() == ["20", str(first.passed), "[]"]
        assert server.count() == 20
        runs = open_store(load_config(root)).list_runs(prompt="capital")
        assert [r.status for r in runs] == ["finished", "finished"]
        assert len(open_store(load_config(root)).results(runs[0].id)) == 20
