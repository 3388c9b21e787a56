"""The runner's store contract (:class:`promptops.store.EvalStore`), the same scenarios on every backend:
the ``sqlite3`` fast path, :class:`~promptops.store.Store` on SQLite (SQLAlchemy's pool), and on
PostgreSQL when ``PROMPTOPS_TEST_POSTGRES_URL`` is set (a schema of its own, dropped after).

Each scenario also reads back through SQLAlchemy's ORM, so what the runner's SQL writes is what the
table models read (timestamps, JSON, booleans), on each dialect.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from promptops.errors import NotFoundError, StoreError
from promptops.store import EvalStore, Store, db, open_store
from promptops.store.evals import SqlEvalStore
from promptops.store.lite import open_lite, sqlite_pragmas
from promptops.store.models import CacheEntry, EvalResult, EvalRun, PromptVersionRow
from promptops.store.schema import BATCH, CACHE_COLUMNS, PROMPT_VERSION_COLUMNS, RESULT_COLUMNS, RUN_COLUMNS

PG_URL = os.environ.get("PROMPTOPS_TEST_POSTGRES_URL")


@dataclass
class Backend:
    evals: EvalStore  # what the runner gets
    orm: Store  # the same database through SQLAlchemy's ORM, to read back
    name: str


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "promptops.db"
    open_store(f"sqlite:///{path}")
    db.dispose_engines()
    return path


@pytest.fixture(params=["sqlite3", "sqlalchemy-sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request, tmp_path, sqlite_template):
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("set PROMPTOPS_TEST_POSTGRES_URL to run the PostgreSQL tests")
        yield from _postgres()
        return
    path = tmp_path / "promptops.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    orm = open_store(url)
    evals = open_lite(url) if request.param == "sqlite3" else orm
    assert evals is not None
    yield Backend(evals, orm, request.param)
    evals.close()
    db.dispose_engines()


def _postgres():
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(db.normalize_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = db.normalize_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    store = open_store(url.render_as_string(hide_password=False))
    try:
        yield Backend(store, store, "postgres")
    finally:
        db.dispose_engines()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def new_run(store: EvalStore, **kw: Any) -> Any:
    fields = dict(prompt="greet", version="abc123def456", hash="h" * 64, ref="main", commit="c0ffee",
                  branch="main", models=["m1", "m2"], repeat=2, fingerprint="fp1", suite_hash="s1", source="cli")
    return store.create_run(**{**fields, **kw})


def result(run_id: int, case: str, model: str = "m1", rep: int = 0, **kw: Any) -> dict:
    return {"run_id": run_id, "prompt": "greet", "version": "abc123def456", "model": model, "case_id": case,
            "repeat_index": rep, "vars": {"name": case}, "expected": "hi", "output": "hi", "passed": True,
            "score": 1.0, **kw}


def orm_results(store: Store, run_id: int) -> list[EvalResult]:
    with store.reading() as session:
        return list(session.exec(select(EvalResult).where(EvalResult.run_id == run_id).order_by(EvalResult.id)))


def is_utc(value: Any) -> bool:
    return isinstance(value, datetime) and value.utcoffset() == timedelta(0)


# --- the column specs ---


@pytest.mark.parametrize("spec, model", [(RUN_COLUMNS, EvalRun), (RESULT_COLUMNS, EvalResult),
                                         (CACHE_COLUMNS, CacheEntry), (PROMPT_VERSION_COLUMNS, PromptVersionRow)])
def test_column_specs_name_the_model_columns(spec, model):
    assert list(spec) == [c.key for c in model.__table__.columns]


def test_the_sqlite_paths_run_the_same_pragmas(tmp_path, sqlite_template):
    path = tmp_path / "promptops.db"
    shutil.copyfile(sqlite_template, path)
    orm = open_store(f"sqlite:///{path}")
    names = [p.split("=")[0].removeprefix("PRAGMA").strip() for p in sqlite_pragmas()]
    with orm.engine.connect() as conn:
        via_engine = [conn.exec_driver_sql(f"PRAGMA {n}").scalar() for n in names]
    lite = open_lite(f"sqlite:///{path}")
    with lite._connect() as conn:  # type: ignore[union-attr]
        via_sqlite3 = [conn.execute(f"PRAGMA {n}").fetchone()[0] for n in names]
    assert via_engine == via_sqlite3 == [30000, "wal", 1, 1]  # synchronous NORMAL is 1
    lite.close()
    db.dispose_engines()


def test_one_timestamp_encoding_for_the_orm_and_the_runners_sql(tmp_path, sqlite_template):
    path = tmp_path / "promptops.db"
    shutil.copyfile(sqlite_template, path)
    orm, lite = open_store(f"sqlite:///{path}"), open_lite(f"sqlite:///{path}")
    when = datetime(2025, 5, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    fields = dict(prompt="p", version="v", hash="h", fingerprint="fp", started_at=when)
    orm._add(EvalRun(**fields))  # SQLAlchemy's own insert, through the UTCDateTime column type
    lite.create_run(**fields)
    lite.close()
    with sqlite3.connect(path) as conn:
        stored = [r[0] for r in conn.execute("SELECT started_at FROM eval_runs ORDER BY id")]
    assert stored == ["2025-05-01 10:00:00.000005"] * 2  # naive UTC text, fixed width: sorts as time
    assert [r.started_at for r in orm.list_runs()] == [when, when]
    db.dispose_engines()


# --- runs ---


def test_create_find_and_finish_runs(backend):
    store = backend.evals
    before = datetime.now(timezone.utc)
    first = new_run(store)
    assert isinstance(first.id, int) and is_utc(first.started_at) and first.started_at >= before
    assert (first.models, first.repeat, first.status, first.summary, first.finished_at) == (["m1", "m2"], 2,
                                                                                            "running", None, None)
    tz = timezone(timedelta(hours=2))
    second = new_run(store, status="interrupted", started_at=datetime(2025, 5, 1, 12, 0, tzinfo=tz))
    assert second.started_at == datetime(2025, 5, 1, 10, 0, tzinfo=timezone.utc) and is_utc(second.started_at)
    new_run(store, fingerprint="fp2")

    found = store.find_unfinished_run("fp1")
    assert found.id == second.id and found.status == "interrupted"
    assert found.started_at == datetime(2025, 5, 1, 10, 0, tzinfo=timezone.utc) and is_utc(found.started_at)
    assert (found.models, found.repeat, found.commit, found.summary) == (["m1", "m2"], 2, "c0ffee", None)

    done = store.finish_run(second.id, status="finished", summary={"m1": {"accuracy": 0.5, "n": [1, 2]}})
    assert done.id == second.id and done.status == "finished" and is_utc(done.finished_at)
    assert done.summary == {"m1": {"accuracy": 0.5, "n": [1, 2]}}
    assert store.find_unfinished_run("fp1").id == first.id
    assert store.find_unfinished_run("nope") is None
    store.finish_run(first.id, status="interrupted")  # summary None: left as it is
    assert store.find_unfinished_run("fp1").id == first.id

    orm = backend.orm.get_run(second.id)
    assert (orm.status, orm.summary, orm.finished_at, orm.started_at) == (done.status, done.summary,
                                                                          done.finished_at, found.started_at)


def test_run_errors(backend):
    store = backend.evals
    with pytest.raises(NotFoundError):
        store.finish_run(99, status="failed")
    with pytest.raises(ValueError, match="run status"):
        store.finish_run(new_run(store).id, status="done")
    with pytest.raises(ValueError, match="run status"):
        new_run(store, status="weird")
    with pytest.raises(ValueError, match="unknown run fields: bogus"):
        new_run(store, bogus=1)


# --- results ---


def test_add_results_upserts_only_over_errors(backend):
    store = backend.evals
    run = new_run(store).id
    store.add_results([result(run, "a"), result(run, "b"),
                       result(run, "c", error="timeout", output=None, passed=None, score=None)])
    store.add_results([result(run, "a", output="changed"), result(run, "a", model="m2"), result(run, "a", rep=1)])
    rows = store.results(run)
    assert len(rows) == 5
    assert next(r for r in rows if (r.model, r.case_id, r.repeat_index) == ("m1", "a", 0)).output == "hi"
    assert store.done_keys(run) == {("m1", "a", 0), ("m1", "b", 0), ("m2", "a", 0), ("m1", "a", 1)}
    assert ("m1", "c", 0) in store.done_keys(run, include_errors=True)

    store.add_results([result(run, "c", error="rate limit", output=None, passed=None)])  # error over error
    assert next(r for r in store.results(run) if r.case_id == "c").error == "rate limit"
    store.add_results([result(run, "c", output="fixed")])  # the retry that worked
    fixed = next(r for r in store.results(run) if r.case_id == "c")
    assert (fixed.output, fixed.error, fixed.passed) == ("fixed", None, True)
    store.add_results([result(run, "c", error="late duplicate")])  # never over a finished row
    assert next(r for r in store.results(run) if r.case_id == "c").error is None
    assert store.done_keys(run) == store.done_keys(run, include_errors=True) and len(store.results(run)) == 5
    assert store.results(new_run(store).id) == [] and store.done_keys(12345) == set()


def test_results_come_back_with_their_types(backend):
    store = backend.evals
    run = new_run(store).id
    before = datetime.now(timezone.utc)
    store.add_results([
        result(run, "a", vars={"q": "é", "n": [1, 2]}, expected={"k": [1, None]}, cached=True, latency_ms=12.5,
               prompt_tokens=3, completion_tokens=1, cost_usd=0.25, reason="ok"),
        result(run, "b", vars={}, expected=None, output=None, passed=False, score=0.0),
        result(run, "c", expected=1, passed=None, score=None),
        result(run, "d", expected="3", error="boom", output=None, passed=None, score=None),
    ])
    rows = {r.case_id: r for r in store.results(run)}
    a, b, c, d = rows["a"], rows["b"], rows["c"], rows["d"]
    assert (a.vars, a.expected, a.cached, a.passed, a.score) == ({"q": "é", "n": [1, 2]}, {"k": [1, None]}, True,
                                                                 True, 1.0)
    assert (a.latency_ms, a.prompt_tokens, a.completion_tokens, a.cost_usd, a.reason) == (12.5, 3, 1, 0.25, "ok")
    assert (b.vars, b.expected, b.output, b.passed, b.cached, b.reason) == ({}, None, None, False, False, "")
    assert (c.expected, c.passed, d.expected, d.error) == (1, None, "3", "boom")
    for row in rows.values():
        assert type(row.cached) is bool and (row.passed is None or type(row.passed) is bool)
        assert isinstance(row.id, int) and row.run_id == run and row.repeat_index == 0
        assert is_utc(row.created_at) and row.created_at >= before - timedelta(seconds=1)
    # what SQLAlchemy's table models read is what the runner's SQL wrote, column for column
    assert [r.model_dump() for r in orm_results(backend.orm, run)] == [vars(r) if backend.name == "sqlite3"
                                                                      else r.model_dump()
                                                                      for r in store.results(run)]


def test_add_results_checks_rows_and_wraps_driver_errors(backend):
    store = backend.evals
    run = new_run(store).id
    with pytest.raises(ValueError, match="lacks case_id"):
        store.add_results([{"run_id": run, "prompt": "p", "version": "v", "model": "m"}])
    with pytest.raises(ValueError, match="unknown result fields: bogus"):
        store.add_results([result(run, "a", bogus=1)])
    with pytest.raises(StoreError, match="cannot write"):
        store.add_results([result(run + 1000, "a")])  # no such run: foreign keys are on
    store.add_results([])
    assert store.results(run) == []


def test_many_results_in_batches(backend):
    store = backend.evals
    run = new_run(store).id
    store.add_results([result(run, f"case-{i}", model=f"m{i % 3}") for i in range(BATCH * 2 + 7)])
    assert len(store.done_keys(run)) == BATCH * 2 + 7


def test_a_writer_thread_and_readers_share_the_store(backend):
    store = backend.evals
    run = new_run(store).id
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(20):
                store.add_results([result(run, f"w{i}-{j}") for j in range(10)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        store.done_keys(run)
    writer.join()
    assert not errors and len(store.done_keys(run)) == 200


# --- response cache and prompt versions ---


def test_cache_put_and_get(backend):
    store = backend.evals
    response = {"text": "héllo", "prompt_tokens": 3, "completion_tokens": 1, "cost_usd": 0.0, "latency_ms": 5.0}
    store.cache_put_many({"k1": ("m1", response), "k2": ("m2", {**response, "text": None})})
    store.cache_put_many({"k1": ("m1", {**response, "text": "overwritten?"})})  # existing keys are kept
    store.cache_put_many({})
    assert store.cache_get_many(["k1", "k2", "missing"]) == {"k1": response, "k2": {**response, "text": None}}
    assert store.cache_get_many([]) == {}
    many = {f"key{i}": ("m", {"text": str(i)}) for i in range(BATCH * 2 + 1)}
    store.cache_put_many(many)
    got = store.cache_get_many(list(many))
    assert len(got) == len(many) and got["key1000"] == {"text": "1000"}
    with backend.orm.reading() as session:
        entry = session.get(CacheEntry, "k1")
    assert (entry.model, entry.response) == ("m1", response) and is_utc(entry.created_at)


def test_record_prompt_version_once_per_hash(backend):
    store = backend.evals
    for _ in range(2):
        store.record_prompt_version(name="greet", version="abc", hash="h1", content="system:\nhi", path="p/greet")
    store.record_prompt_version(name="greet", version="def", hash="h2", content="system:\nyo", path="p/greet")
    versions = backend.orm.prompt_versions(name="greet")
    assert [(v.version, v.hash, v.content) for v in versions] == [("abc", "h1", "system:\nhi"),
                                                                  ("def", "h2", "system:\nyo")]
    assert all(is_utc(v.first_seen) for v in versions)


def test_the_backends_are_the_one_implementation(backend):
    impl = backend.evals if backend.name == "sqlite3" else backend.evals.evals  # type: ignore[attr-defined]
    assert isinstance(impl, SqlEvalStore)
    assert impl.dialect.name == ("postgresql" if backend.name == "postgres" else "sqlite")
