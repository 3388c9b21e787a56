"""Calls made elsewhere: ``POST /v1/calls`` (one or a batch), ``Client.log``, the litellm callback
(:mod:`promptops.integrations.litellm`), and their export for fine-tuning, against a real uvicorn
server over a real git project (v1 of `capital` in production, v2 in staging).

Runs on SQLite, and on PostgreSQL too when ``PROMPTOPS_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from promptops import Client
from promptops.errors import NotFoundError, RenderError
from promptops.escalate.export import export
from promptops.server import create_app
from promptops.server.testing import running
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import capital_rules
from .test_server import project_on_each_store


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(rules=capital_rules({"Peru"})) as srv:
        yield srv


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def project(request, tmp_path_factory, fake):
    yield from project_on_each_store(request, tmp_path_factory, fake)


@pytest.fixture(scope="module")
def server(project):
    with running(create_app(project.config, store=project.store, cache_ttl=0)) as url:
        yield url


@pytest.fixture(scope="module")
def client(server, project):
    with Client(server, key=project.write) as c:
        yield c


def rendered(country: str, v: int = 1) -> list[dict[str, str]]:
    system = "Answer with the city name only." if v == 1 else "Reply with the capital city only, no punctuation."
    return [{"role": "system", "content": system}, {"role": "user", "content": f"What is the capital of {country}?"}]


def test_one_call_is_logged_with_its_label_resolved(client, project):
    call_id = client.log("capital", model="gpt-4o-mini", variables={"country": "Spain"}, messages=rendered("Spain"),
                         output="Madrid", latency_ms=321.5, prompt_tokens=20, completion_tokens=1, cost_usd=0.00002,
                         user_id="u-1", session_id="s-9", tags=["web"], metadata={"build": "42"})
    call = project.store.get_call(call_id)
    assert (call.prompt, call.version, call.env, call.model, call.source) == (
        "capital", project.v1, "production", "gpt-4o-mini", "ingested")
    assert (call.output, call.latency_ms, call.prompt_tokens, call.completion_tokens, call.cost_usd) == (
        "Madrid", 321.5, 20, 1, 0.00002)
    assert (call.user_id, call.session_id, call.tags, call.meta) == ("u-1", "s-9", ["web"], {"build": "42"})
    assert call.messages == rendered("Spain") and call.extra_messages is None
    listed = client.calls(user_id="u-1")
    assert [c["id"] for c in listed] == [call_id] and listed[0]["cost_usd"] == 0.00002


def test_a_batch_is_logged_all_or_none(client, project):
    extra = [{"role": "assistant", "content": "Rome"}, {"role": "user", "content": "Sure?"}]
    ids = client.log_many([
        {"prompt": "capital", "label": "staging", "model": "m", "variables": {"country": "Italy"},
         "messages": rendered("Italy", v=2) + extra, "output": "Yes"},
        {"prompt": "capital", "version": project.v1[:6], "model": "m", "variables": {"country": "Peru"},
         "error": "rate_limit: slow down", "created_at": "2026-01-02T03:04:05Z"},
    ])
    first, second = (project.store.get_call(i) for i in ids)
    assert (first.version, first.env, first.extra_messages) == (project.v2, "staging", extra)
    assert (second.version, second.env, second.error, second.output) == (project.v1, None, "rate_limit: slow down",
                                                                        None)
    assert second.messages == rendered("Peru")  # none sent: the prompt as rendered
    assert second.created_at.isoformat().startswith("2026-01-02T03:04:05")
    before = len(project.store.list_calls(limit=1000))
    with pytest.raises(NotFoundError) as err:
        client.log_many([{"prompt": "capital", "model": "m", "output": "x"},
                         {"prompt": "capital", "label": "nowhere", "model": "m", "output": "x"}])
    assert "nowhere" in err.value.message and "calls[1]" in err.value.where
    assert len(project.store.list_calls(limit=1000)) == before


def test_bad_reports_are_refused_naming_the_field(server, project):
    h = {"Authorization": f"Bearer {project.write}"}
    cases = [({"prompt": "capital", "model": "m"}, "output"),
             ({"prompt": "capital", "model": "m", "output": "x", "label": "production", "version": "abc"}, "label"),
             ({"calls": []}, "calls"), ({"prompt": "capital", "output": "x"}, "model"),
             ({"prompt": "capital", "model": "m", "output": "x", "tags": ["ok", ""]}, "tags")]
    for body, field in cases:
        r = httpx.post(f"{server}/v1/calls", json=body, headers=h)
        assert r.status_code == 422 and field in r.json()["error"], (body, r.text)
    r = httpx.post(f"{server}/v1/calls", json={"prompt": "nope", "model": "m", "output": "x"}, headers=h)
    assert r.status_code == 404
    body = {"prompt": "capital", "model": "m", "output": "x"}
    assert httpx.post(f"{server}/v1/calls", json=body).status_code == 401
    assert httpx.post(f"{server}/v1/calls", json=body, headers={"Authorization": f"Bearer {project.read}"}
                      ).status_code == 403
    big = {**body, "output": "x" * (project.config.server.max_body_bytes + 1)}
    assert httpx.post(f"{server}/v1/calls", json=big, headers=h).status_code == 413


def test_ingested_calls_export_for_fine_tuning(client, project, tmp_path):
    # places outside the regression suite: its inputs never become training examples
    good = client.log("capital", model="m", variables={"country": "Narnia"}, output="Cair Paravel")
    client.feedback(good, score=1)
    extra = [{"role": "user", "content": "One word."}]
    fixed = client.log("capital", model="m", variables={"country": "Oz"}, messages=rendered("Oz") + extra,
                       output="The Emerald City, I think")
    client.feedback(fixed, correction="Emerald")
    export(project.config, "capital", out=tmp_path / "ft", version=project.v1, min_examples=2, store=project.store)
    rows = [json.loads(line) for name in ("train.jsonl", "val.jsonl")
            for line in (tmp_path / "ft" / name).read_text().splitlines()]
    by_target = {r["messages"][-1]["content"]: r["messages"][:-1] for r in rows}
    assert by_target["Cair Paravel"] == rendered("Narnia")
    assert by_target["Emerald"] == rendered("Oz") + extra


def test_the_litellm_callback_logs_calls_that_name_a_prompt(server, project, fake):
    import litellm

    from promptops.integrations.litellm import PromptopsLogger

    logger = PromptopsLogger(server, key=project.write)
    kwargs = {"api_base": fake.base_url, "api_key": "not-a-secret", "num_retries": 0}
    before = len(project.store.list_calls(source="ingested", limit=1000))
    redacting = litellm.turn_off_message_logging  # promptops' own calls in this process turn it on
    try:
        litellm.turn_off_message_logging = False  # an application's default: callbacks see the messages
        litellm.callbacks = [logger]
        answer = litellm.completion(model="openai/gpt-x", messages=rendered("Japan"), **kwargs,
                                    metadata={"promptops": {"prompt": "capital", "variables": {"country": "Japan"},
                                                            "user_id": "lite-1", "tags": ["litellm"]}})
        litellm.completion(model="openai/gpt-x", messages=rendered("Kenya"), **kwargs)  # names no prompt
        fake.configure(rate_500=1.0)
        with pytest.raises(Exception):
            litellm.completion(model="openai/gpt-x", messages=rendered("Chile"), **kwargs,
                               metadata={"promptops": {"prompt": "capital", "label": "staging",
                                                       "variables": {"country": "Chile"}}})
        fake.configure(rate_500=0.0)
        for _ in range(100):  # litellm runs its callbacks on its own threads
            logger.flush()
            if logger.sent + logger.dropped >= 2:
                break
            time.sleep(0.05)
    finally:
        fake.configure(rate_500=0.0)
        litellm.callbacks = []
        litellm.turn_off_message_logging = redacting
        logger.close()
    assert answer.choices[0].message.content == "Tokyo"
    calls = project.store.list_calls(source="ingested", limit=1000)
    calls = calls[: len(calls) - before]  # newest first: the ones this test logged
    by_user = {c.user_id: c for c in calls}
    ok = by_user["lite-1"]
    assert (ok.output, ok.version, ok.model, ok.tags) == ("Tokyo", project.v1, "openai/gpt-x", ["litellm"])
    assert ok.prompt_tokens > 0 and ok.latency_ms > 0
    failed = next(c for c in calls if c.error)
    assert failed.env == "staging" and failed.version == project.v2 and failed.output is None
    assert "InternalServerError" in failed.error and failed.variables == {"country": "Chile"}
    assert len(calls) == 2 and logger.dropped == 0


def test_bad_values_in_client_log_are_a_render_error(client):
    with pytest.raises(RenderError):
        client.log("capital", model="m", output="x", tags=[""])


def test_complete_logs_its_context_too(server, project):
    r = httpx.post(f"{server}/v1/prompts/capital/complete", headers={"Authorization": f"Bearer {project.write}"},
                   json={"variables": {"country": "Norway"}, "user_id": "u-c", "session_id": "s-c", "tags": ["api"],
                         "metadata": {"page": "home"}})
    assert r.status_code == 200, r.text
    call = project.store.get_call(r.json()["call_id"])
    assert (call.source, call.user_id, call.session_id, call.tags, call.meta) == (
        "served", "u-c", "s-c", ["api"], {"page": "home"})
