"""The HTTP server end to end: a real temporary git project, evals run by the runner against the
fake OpenAI server, labels moved by the deploy API, and every endpoint's success and error paths.

Runs on SQLite, and on PostgreSQL too when ``PROMPTOPS_TEST_POSTGRES_URL`` is set (a schema of
its own, dropped after).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from promptops import deploy
from promptops.config import Config, load_config
from promptops.eval.evaluate import evaluate
from promptops.prompts import parse_prompt
from promptops.server import create_app
from promptops.store import Store, db, open_store
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import capital_rules, git, make_project, write_prompt

PG_URL = os.environ.get("PROMPTOPS_TEST_POSTGRES_URL")
WRONG = {"Peru", "Chile", "Cuba"}  # 17/20 = 85%: above the 80% target, so the gate lets v1 through


@dataclass
class Project:
    root: Path
    config: Config
    store: Store
    v1: str
    v2: str
    read: str
    write: str
    admin: str


def build_project(root: Path, base_url: str, database_url: str | None = None) -> Project:
    """Two committed versions of `capital`, both evaluated; v1 in production (through the gate),
    v2 in staging (forced); one key of each scope."""
    make_project(root, base_url)
    config = load_config(root)
    if database_url:
        config.database_url = database_url
    store = open_store(config)
    evaluate(config, source="cli", branch="main")
    v1 = deploy.promote(config, "capital@HEAD", "production", actor="tester", store=store).version
    write_prompt(root, system="Reply with the capital city only, no punctuation.")
    git(root, "commit", "-qam", "v2: stricter system message")
    evaluate(config, source="cli", branch="main")
    v2 = deploy.promote(config, "capital@HEAD", "staging", force=True, reason="try it", actor="tester",
                        store=store).version
    keys = {scope: store.create_api_key(scope, f"{scope} key")[0] for scope in ("read", "write", "admin")}
    return Project(root=root, config=config, store=store, v1=v1, v2=v2, **keys)


def project_on_each_store(request, tmp_path_factory, fake):
    """The body of a module's ``project`` fixture parametrized over sqlite and postgres: the demo
    project on the fake server, on a fresh SQLite file or a PostgreSQL schema of its own."""
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("set PROMPTOPS_TEST_POSTGRES_URL to run the PostgreSQL tests")
        url, drop = postgres_schema_url()
        yield build_project(tmp_path_factory.mktemp("pg"), fake.base_url, url)
        drop()
        return
    yield build_project(tmp_path_factory.mktemp("sqlite"), fake.base_url)
    db.dispose_engines()


def postgres_schema_url() -> tuple[str, object]:
    import sqlalchemy as sa

    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(db.normalize_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = db.normalize_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        db.dispose_engines()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(rules=capital_rules(WRONG)) as srv:
        yield srv


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def project(request, tmp_path_factory, fake) -> Project:
    yield from project_on_each_store(request, tmp_path_factory, fake)


@pytest.fixture(scope="module")
def client(project) -> TestClient:
    # cache_ttl=0: every request checks the label's current deployment, so label moves show at once
    return TestClient(create_app(project.config, store=project.store, cache_ttl=0))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def error_of(response) -> str:
    body = response.json()
    assert set(body) >= {"error", "where", "hint"}, body
    return body["error"]


# ---------------------------------------------------------------- prompts


def test_health_and_docs(client):
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/prompts", "/v1/prompts/{name}", "/v1/prompts/{name}/render", "/v1/prompts/{name}/complete",
            "/v1/calls/{call_id}/feedback", "/v1/calls", "/v1/evals", "/v1/evals/{run_id}", "/v1/deployments",
            "/v1/jobs", "/health"} <= set(paths)


def test_list_prompts_with_labels(client, project):
    [p] = client.get("/v1/prompts").json()["prompts"]
    assert p["name"] == "capital" and p["version"] == project.v2 and p["inputs"] == ["country"]
    assert p["labels"]["production"]["version"] == project.v1
    assert p["labels"]["staging"]["version"] == project.v2 and p["labels"]["staging"]["model"] == "fake/a"


def test_get_prompt_by_label_and_version(client, project):
    body = client.get("/v1/prompts/capital").json()
    assert (body["version"], body["label"], body["model"]) == (project.v1, "production", "fake/a")
    assert body["params"] == {"temperature": 0, "max_tokens": 10}
    assert parse_prompt(body["content"]).version == project.v1  # the content is the version's
    assert body["messages"][0] == {"role": "system", "content": "Answer with the city name only."}
    assert client.get("/v1/prompts/capital?label=staging").json()["version"] == project.v2
    by_version = client.get(f"/v1/prompts/capital?version={project.v2[:7]}").json()
    assert by_version["version"] == project.v2 and by_version["label"] is None
    assert client.get("/v1/prompts/capital?version=HEAD~1").json()["version"] == project.v1


def test_served_content_stays_promoted_after_the_tree_moves(client, project):
    write_prompt(project.root, system="Uncommitted edit.")
    try:
        body = client.get("/v1/prompts/capital").json()
        assert body["version"] == project.v1 and "Uncommitted" not in body["content"]
    finally:
        git(project.root, "checkout", "--", "prompts/capital.prompt")


@pytest.mark.parametrize("path, status", [
    ("/v1/prompts/nope", 404),
    ("/v1/prompts/capital?label=canary-unknown", 404),
    ("/v1/prompts/capital?version=deadbeef0000", 404),
    ("/v1/prompts/capital?version=no-such-branch", 404),
    ("/v1/prompts/..%2Fetc", 404),
    ("/v1/prompts/capital?label=production&version=HEAD", 422),
    ("/v1/prompts/capital?label=bad%20label", 422),
])
def test_get_prompt_errors(client, path, status):
    response = client.get(path)
    assert response.status_code == status, response.text
    assert error_of(response)


def test_label_moves_are_served(client, project):
    deploy.promote(project.config, f"capital@{project.v1}", "canary", force=True, store=project.store)
    assert client.get("/v1/prompts/capital?label=canary").json()["version"] == project.v1
    deploy.promote(project.config, f"capital@{project.v2}", "canary", force=True, store=project.store)
    assert client.get("/v1/prompts/capital?label=canary").json()["version"] == project.v2
    deploy.rollback(project.config, "capital", "canary", store=project.store)
    assert client.get("/v1/prompts/capital?label=canary").json()["version"] == project.v1


def test_cached_label_is_served_for_ttl_then_rechecked(project):
    app = create_app(project.config, store=project.store, cache_ttl=3600)
    c = TestClient(app)
    deploy.promote(project.config, f"capital@{project.v1}", "cached", force=True, store=project.store)
    assert c.get("/v1/prompts/capital?label=cached").json()["version"] == project.v1
    deploy.promote(project.config, f"capital@{project.v2}", "cached", force=True, store=project.store)
    assert c.get("/v1/prompts/capital?label=cached").json()["version"] == project.v1  # within the ttl
    app.state.prompts.invalidate()
    assert c.get("/v1/prompts/capital?label=cached").json()["version"] == project.v2


# ---------------------------------------------------------------- render


def test_render(client, project):
    body = client.post("/v1/prompts/capital/render", json={"variables": {"country": "Peru"}}).json()
    assert body["version"] == project.v1 and body["messages"][-1] == {
        "role": "user", "content": "What is the capital of Peru?"}
    staged = client.post("/v1/prompts/capital/render", json={"variables": {"country": "Peru"}, "label": "staging"})
    assert staged.json()["messages"][0]["content"].startswith("Reply with the capital")
    by_version = client.post("/v1/prompts/capital/render", json={"variables": {"country": "Peru"},
                                                                 "version": project.v1[:8]})
    assert by_version.json()["version"] == project.v1


@pytest.mark.parametrize("body, field", [
    ({"variables": {}}, "variables.country"),
    ({"variables": {"country": 3}}, "variables.country"),
    ({"variables": {"country": "Peru", "city": "x"}}, "variables.city"),
    ({"variables": "Peru"}, "body.variables"),
    ({"variables": {"country": "Peru"}, "extra": 1}, "body.extra"),
    ({"variables": {"country": "Pe\u0000ru"}}, "body.variables"),
    ({"variables": {"country": "Pe\ud83dru"}}, "body.variables"),  # a JavaScript string cut inside an emoji
    ({"variables": {"\udc00": "Peru"}}, "body.variables"),
])
def test_render_bad_variables_name_the_field(client, body, field):
    # sent as JavaScript would: ASCII JSON with \u escapes (httpx's json= cannot encode a lone surrogate)
    response = client.post("/v1/prompts/capital/render", content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_render_unknown_prompt_and_bad_json(client):
    assert client.post("/v1/prompts/nope/render", json={"variables": {}}).status_code == 404
    response = client.post("/v1/prompts/capital/render", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and error_of(response)


# ---------------------------------------------------------------- complete, calls, feedback


def test_complete_needs_a_write_key(client, project):
    body = {"variables": {"country": "France"}}
    no_key = client.post("/v1/prompts/capital/complete", json=body)
    assert no_key.status_code == 401 and no_key.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/prompts/capital/complete", json=body, headers=auth("po_wrong")).status_code == 401
    assert client.post("/v1/prompts/capital/complete", json=body, headers=auth(project.read)).status_code == 403


def test_complete_runs_the_deployed_model_and_logs_the_call(client, project, fake):
    fake.reset()
    response = client.post("/v1/prompts/capital/complete", json={"variables": {"country": "France"}},
                           headers={"X-API-Key": project.write})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["output"], body["version"], body["model"], body["label"]) == ("Paris", project.v1, "fake/a",
                                                                               "production")
    assert body["prompt_tokens"] > 0 and body["completion_tokens"] > 0 and body["latency_ms"] > 0
    assert fake.count() == 1
    call = project.store.get_call(body["call_id"])
    assert (call.prompt, call.version, call.model, call.env, call.output) == (
        "capital", project.v1, "fake/a", "production", "Paris")
    assert call.variables == {"country": "France"} and call.messages[-1]["content"].endswith("France?")
    assert call.prompt_tokens == body["prompt_tokens"] and call.error is None
    staged = client.post("/v1/prompts/capital/complete", json={"variables": {"country": "Peru"}, "label": "staging"},
                         headers=auth(project.admin)).json()
    assert staged["version"] == project.v2 and staged["output"] == "Atlantis"


def test_complete_provider_failure_is_502_and_still_logged(client, project, fake):
    fake.configure(rate_500=1.0)
    try:
        response = client.post("/v1/prompts/capital/complete", json={"variables": {"country": "Spain"}},
                               headers=auth(project.write))
    finally:
        fake.configure(rate_500=0.0)
    assert response.status_code == 502
    body = response.json()
    assert "fake/a" in body["error"] and "server" in body["error"]
    call = project.store.get_call(body["call_id"])
    assert call.output is None and call.error and call.variables == {"country": "Spain"}


def test_complete_errors(client, project):
    h = auth(project.write)
    assert client.post("/v1/prompts/nope/complete", json={"variables": {}}, headers=h).status_code == 404
    response = client.post("/v1/prompts/capital/complete", json={"variables": {"country": "Spain"},
                                                                  "label": "nowhere"}, headers=h)
    assert response.status_code == 404 and "nowhere" in error_of(response)
    response = client.post("/v1/prompts/capital/complete", json={"variables": {}}, headers=h)
    assert response.status_code == 422 and response.json()["field"] == "variables.country"


def _complete(client, project, country: str) -> str:
    response = client.post("/v1/prompts/capital/complete", json={"variables": {"country": country}},
                           headers=auth(project.write))
    assert response.status_code == 200, response.text
    return response.json()["call_id"]


def test_feedback_is_stored_and_listed(client, project):
    call_id = _complete(client, project, "Japan")
    r = client.post(f"/v1/calls/{call_id}/feedback", json={"score": 1, "comment": "right"}, headers=auth(project.write))
    assert r.status_code == 201 and r.json()["score"] == 1.0 and r.json()["call_id"] == call_id
    r = client.post(f"/v1/calls/{call_id}/feedback", json={"correction": "Tokyo", "label": "capital-city"},
                    headers=auth(project.admin))
    assert r.status_code == 201
    listed = client.get("/v1/calls", params={"has_feedback": "true", "prompt": "capital"}).json()["calls"]
    mine = next(c for c in listed if c["id"] == call_id)
    assert [(f["score"], f["correction"], f["label"]) for f in mine["feedback"]] == [
        (1.0, None, None), (None, "Tokyo", "capital-city")]
    assert all(c["feedback"] for c in listed)
    without = client.get("/v1/calls", params={"has_feedback": "false"}).json()["calls"]
    assert call_id not in {c["id"] for c in without} and all(not c["feedback"] for c in without)


@pytest.mark.parametrize("body, key, status", [
    ({}, "write", 422),
    ({"score": None}, "write", 422),
    ({"score": 1}, None, 401),
    ({"score": 1}, "read", 403),
    ({"score": "high"}, "write", 422),
    ({"label": "x" * 201}, "write", 422),
    ({"label": "ok", "bogus": 1}, "write", 422),
    ({"correction": "Cai\ud800ro"}, "write", 422),
])
def test_feedback_errors(client, project, body, key, status):
    call_id = project.store.list_calls(limit=1)[0].id if project.store.list_calls(limit=1) else _complete(
        client, project, "Egypt")
    headers = auth(getattr(project, key)) if key else {}
    response = client.post(f"/v1/calls/{call_id}/feedback", content=json.dumps(body),
                           headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert error_of(response)


def test_feedback_on_unknown_call_is_404(client, project):
    for call_id in ("0" * 32, "not-a-call", "x" * 60):
        response = client.post(f"/v1/calls/{call_id}/feedback", json={"score": 0}, headers=auth(project.write))
        assert response.status_code == 404, response.text


def test_calls_filters(client, project):
    _complete(client, project, "Italy")
    calls = client.get("/v1/calls", params={"prompt": "capital", "version": project.v1, "model": "fake/a"}).json()
    assert calls["calls"] and all(c["version"] == project.v1 for c in calls["calls"])
    assert client.get("/v1/calls", params={"version": "nope"}).json()["calls"] == []
    assert client.get("/v1/calls", params={"since": "2999-01-01T00:00:00Z"}).json()["calls"] == []
    assert client.get("/v1/calls", params={"until": "2000-01-01T00:00:00"}).json()["calls"] == []
    first = client.get("/v1/calls", params={"limit": 1}).json()["calls"]
    second = client.get("/v1/calls", params={"limit": 1, "offset": 1}).json()["calls"]
    assert len(first) == len(second) == 1 and first[0]["id"] != second[0]["id"]
    for bad in ({"limit": 0}, {"limit": 5000}, {"offset": -1}, {"since": "yesterday"}, {"has_feedback": "maybe"},
                {"prompt": "a\u0000b"}):
        response = client.get("/v1/calls", params=bad)
        assert response.status_code == 422, (bad, response.text)


# ---------------------------------------------------------------- evals, deployments, jobs


def test_evals(client, project):
    runs = client.get("/v1/evals", params={"prompt": "capital"}).json()["runs"]
    assert [r["version"] for r in runs[:2]] == [project.v2, project.v1]
    v1_run = runs[1]
    assert v1_run["summary"]["fake/a"]["accuracy"] == 0.85 and v1_run["status"] == "finished"
    detail = client.get(f"/v1/evals/{v1_run['id']}").json()
    assert len(detail["results"]) == 20
    failing = {r["vars"]["country"] for r in detail["results"] if not r["passed"]}
    assert failing == WRONG
    assert client.get("/v1/evals", params={"model": "fake/zzz"}).json()["runs"] == []
    assert client.get("/v1/evals/999999").status_code == 404
    assert client.get("/v1/evals/abc").status_code == 422
    assert client.get("/v1/evals/0").status_code == 422


def test_deployments(client, project):
    body = client.get("/v1/deployments", params={"prompt": "capital"}).json()
    current = {d["env"]: d for d in body["current"]}
    assert current["production"]["version"] == project.v1 and current["production"]["score"] == 0.85
    assert current["production"]["forced"] is False and current["staging"]["forced"] is True
    assert current["staging"]["reason"] == "try it" and current["staging"]["actor"] == "tester"
    assert len(body["history"]) >= 2
    assert client.get("/v1/deployments", params={"env": "staging"}).json()["current"][0]["env"] == "staging"


def test_jobs(client, project):
    job = project.store.create_job(prompt="capital", base_model="local/smollm2", dataset="datasets/finetune/capital")
    jobs = client.get("/v1/jobs").json()["jobs"]
    assert job.id in {j["id"] for j in jobs}
    assert client.get("/v1/jobs", params={"prompt": "other"}).json()["jobs"] == []


# ---------------------------------------------------------------- auth, limits, secrets


def test_require_auth_protects_reads(project):
    config = copy.deepcopy(project.config)
    config.root = project.root
    config.server.require_auth = True
    c = TestClient(create_app(config, store=project.store, cache_ttl=0))
    for path in ("/v1/prompts", "/v1/prompts/capital", "/v1/calls", "/v1/evals", "/v1/deployments", "/v1/jobs", "/"):
        assert c.get(path).status_code == 401, path
        assert c.get(path, headers=auth(project.read)).status_code == 200, path
    assert c.post("/v1/prompts/capital/render", json={"variables": {"country": "Peru"}}).status_code == 401
    assert c.get("/", cookies={"promptops_key": project.read}).status_code == 200
    assert c.get("/health").status_code == 200  # liveness needs no key


def test_revoked_key_is_refused(project):
    plain, row = project.store.create_api_key("write", "short-lived")
    project.store.revoke_api_key(row.id)
    c = TestClient(create_app(project.config, store=project.store))
    response = c.post("/v1/calls/abc/feedback", json={"score": 1}, headers=auth(plain))
    assert response.status_code == 401


def test_oversize_body_is_413(client, project):
    limit = project.config.server.max_body_bytes
    big = {"variables": {"country": "x" * (limit + 10)}}
    response = client.post("/v1/prompts/capital/render", json=big)
    assert response.status_code == 413 and str(limit) in error_of(response)

    def chunks():  # no Content-Length: the limit is enforced on the bytes that arrive
        yield b'{"variables": {"country": "'
        for _ in range(limit // 1024 + 2):
            yield b"x" * 1024
        yield b'"}}'

    response = client.post("/v1/calls/abc/feedback", content=chunks(),
                           headers={"Content-Type": "application/json", **auth(project.write)})
    assert response.status_code == 413
    small = client.post("/v1/prompts/capital/render", content=json.dumps({"variables": {"country": "Peru"}}).encode(),
                        headers={"Content-Type": "application/json"})
    assert small.status_code == 200


def test_no_key_hash_or_secret_leaves_the_server(client, project):
    hashes = [k.key_hash for k in project.store.list_api_keys()]
    texts = [client.get(p).text for p in ("/v1/prompts", "/v1/calls", "/v1/evals", "/v1/deployments", "/v1/jobs",
                                           "/openapi.json", "/", "/calls", "/deployments")]
    for text in texts:
        for secret in (*hashes, project.read, project.write, project.admin, "not-a-secret"):
            assert secret not in text


# ---------------------------------------------------------------- the demo's serving phase


def test_demo_serve_phase_on_the_fake_model(tmp_path):
    """The demo phase end to end, with the embedded model's name mapped to the fake server."""
    from promptops.config import ModelOptions
    from promptops.demo.project import build_project as build_demo
    from promptops.demo.serve import phase

    shas = build_demo(tmp_path / "demo", cases=14)
    traffic_file = tmp_path / "demo" / "datasets/traffic/snips-intent.jsonl"
    traffic = [json.loads(line) for line in traffic_file.read_text().splitlines()]
    truth = {item["vars"]["text"]: item["label"] for item in traffic}

    def answer(model, messages):  # right for two thirds of the requests, then a wrong intent
        text = messages[-1]["content"]
        return truth.get(text) if hash(text) % 3 else "GetWeather" if truth.get(text) != "GetWeather" else "PlayMusic"

    with FakeOpenAI(rules=answer) as fake:
        config = load_config(tmp_path / "demo")
        config.models["local/smollm2"] = ModelOptions(model="openai/smollm2", api_base=fake.base_url,
                                                      params={"api_key": "not-a-secret"})
        said: list[str] = []
        figures = {"best_prompt": {"version": "x", "commit": shas[-1], "accuracy": 0.6}}
        out = phase(config=config, figures=figures, quick=True, say=said.append, table=lambda *a: None)
    t = out["traffic"]
    assert t["gate"] == "refused" and ("80" in t["gate_message"] or "0.8" in t["gate_message"])
    assert t["requests"] == t["served"] == t["feedback"] == 70 and t["errors"] == 0
    assert t["correct"] + t["corrections"] == 70 and 0.4 < t["served_accuracy"] < 0.9
    store = open_store(config)
    current = store.current_deployment("snips-intent", "production")
    assert current.forced and current.reason == "best available prompt"
    calls = store.list_calls(prompt="snips-intent", limit=1000)
    feedback = store.feedback_for(c.id for c in calls)
    assert len(calls) == 70 and all(len(feedback[c.id]) == 1 for c in calls)
    for c in calls:
        [f] = feedback[c.id]
        right = c.output.strip().lower() == truth[c.variables["text"]].lower()
        assert (f.score, f.correction) == ((1.0, None) if right else (0.0, truth[c.variables["text"]]))
