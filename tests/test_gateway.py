"""The OpenAI-compatible gateway end to end: a real uvicorn server on loopback over a real git
project (v1 of `capital` in production, v2 in staging), the fake OpenAI server as the model, and
the real `openai` SDK and `litellm` as clients.

Runs on SQLite, and on PostgreSQL too when ``PROMPTOPS_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from promptops.escalate.export import export
from promptops.server import create_app
from promptops.server.testing import running
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import capital_rules
from .test_server import project_on_each_store

WRONG = {"Peru", "Chile", "Cuba"}


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(rules=capital_rules(WRONG)) as srv:
        yield srv


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def project(request, tmp_path_factory, fake):
    yield from project_on_each_store(request, tmp_path_factory, fake)


@pytest.fixture(scope="module")
def server(project, fake):
    config = project.config
    config.server.allowed_models = ["fake/a"]
    config.retry_backoff = 0.01  # the 502 test's retries should not sleep
    with running(create_app(config, store=project.store, cache_ttl=0)) as url:
        yield url


@pytest.fixture(scope="module")
def sdk(server, project):
    with openai.OpenAI(base_url=f"{server}/v1", api_key=project.write, max_retries=0) as client:
        yield client


def test_a_prompt_is_served_through_the_openai_sdk_and_logged(sdk, project, fake):
    fake.reset()
    answer = sdk.chat.completions.create(model="prompt:capital", messages=[],
                                         extra_body={"variables": {"country": "France"}})
    assert answer.choices[0].message.content == "Paris"
    assert answer.choices[0].finish_reason == "stop" and answer.usage.prompt_tokens > 0
    served = answer.model_extra["promptops"]
    assert (served["prompt"], served["version"], served["label"], served["model"]) == (
        "capital", project.v1, "production", "fake/a")
    assert served["call_id"] == answer.id and fake.count() == 1
    call = project.store.get_call(answer.id)
    assert (call.prompt, call.version, call.env, call.source, call.output) == (
        "capital", project.v1, "production", "gateway", "Paris")
    assert call.variables == {"country": "France"} and call.messages[-1]["content"].endswith("France?")
    # the id is the call id: feedback on it is accepted
    r = httpx.post(f"{str(sdk.base_url).rstrip('/')}/calls/{answer.id}/feedback", json={"score": 1},
                   headers={"Authorization": f"Bearer {project.write}"})
    assert r.status_code == 201, r.text


def test_a_label_or_a_version_and_appended_messages(sdk, project, fake):
    staged = sdk.chat.completions.create(model="prompt:capital@staging", messages=[],
                                         extra_body={"variables": {"country": "Peru"}})
    assert staged.choices[0].message.content == "Atlantis"
    assert staged.model_extra["promptops"]["version"] == project.v2
    by_version = sdk.chat.completions.create(model=f"prompt:capital@{project.v1}", messages=[],
                                             extra_body={"variables": {"country": "Spain"}})
    info = by_version.model_extra["promptops"]
    assert (info["version"], info["label"]) == (project.v1, None)
    fake.reset()
    extra = [{"role": "assistant", "content": "Madrid"}, {"role": "user", "content": "And the capital of Italy?"}]
    answer = sdk.chat.completions.create(model="prompt:capital", messages=extra,
                                         extra_body={"variables": {"country": "Spain"}})
    assert answer.choices[0].message.content == "Rome"  # the fake answers the last user message
    sent = fake.last_request["messages"]
    assert sent[0]["role"] == "system" and sent[1]["content"].endswith("Spain?") and sent[2:] == extra
    call = project.store.get_call(answer.id)
    assert call.extra_messages == extra and call.messages == sent


def test_stream_true_is_answered_as_server_sent_events(sdk, project):
    stream = sdk.chat.completions.create(model="prompt:capital", messages=[], stream=True,
                                         stream_options={"include_usage": True},
                                         extra_body={"variables": {"country": "Japan"}})
    events = list(stream)
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    assert text == "Tokyo"
    assert [e.choices[0].finish_reason for e in events if e.choices][-1] == "stop"
    assert events[-1].usage.completion_tokens > 0 and len({e.id for e in events}) == 1
    call = project.store.get_call(events[0].id)
    assert call.output == "Tokyo" and events[0].model_extra["promptops"]["label"] == "production"


def test_params_tools_and_response_format_pass_through_within_the_prompt(sdk, project, fake):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    answer = sdk.chat.completions.create(
        model="prompt:capital", messages=[], tools=tools, tool_choice={"type": "function", "function": {"name": "lookup"}},
        top_p=0.5, seed=7, response_format={"type": "json_object"}, extra_body={"variables": {"country": "Kenya"}})
    sent = fake.last_request
    assert sent["top_p"] == 0.5 and sent["seed"] == 7 and sent["response_format"] == {"type": "json_object"}
    assert sent["tools"][0]["function"]["name"] == "lookup" and sent["temperature"] == 0  # the prompt's
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls" and call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"input": "Nairobi"}
    # the prompt sets temperature 0: the eval gate passed it so, a request may not change it
    with pytest.raises(openai.UnprocessableEntityError) as err:
        sdk.chat.completions.create(model="prompt:capital", messages=[], temperature=1.0,
                                    extra_body={"variables": {"country": "Kenya"}})
    assert err.value.body["param"] == "temperature" and err.value.body["code"] == "param_fixed_by_prompt"
    same = sdk.chat.completions.create(model="prompt:capital", messages=[], temperature=0,
                                       extra_body={"variables": {"country": "Kenya"}})
    assert same.choices[0].message.content == "Nairobi"


def test_errors_come_in_openai_shape(sdk, server, project, fake):
    with pytest.raises(openai.NotFoundError) as err:
        sdk.chat.completions.create(model="prompt:capital@nowhere", messages=[],
                                    extra_body={"variables": {"country": "Spain"}})
    assert "nowhere" in err.value.body["message"] and err.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="prompt:nope", messages=[], extra_body={"variables": {}})
    with pytest.raises(openai.NotFoundError) as err:
        sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert "allowed_models" in err.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError) as err:
        sdk.chat.completions.create(model="prompt:capital", messages=[], extra_body={"variables": {}})
    assert err.value.body["param"] == "variables.country"
    with pytest.raises(openai.UnprocessableEntityError) as err:
        sdk.chat.completions.create(model="prompt:capital", messages=[], extra_body={"variables": {"country": 3}})
    assert err.value.body["param"] == "variables.country"
    with pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(model="prompt:capital", messages=[], extra_body={"colour": "red"})
    assert err.value.body["param"] == "colour" and err.value.body["code"] == "unknown_parameter"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server}/v1", api_key="po_wrong", max_retries=0).chat.completions.create(
            model="prompt:capital", messages=[], extra_body={"variables": {"country": "Spain"}})
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(base_url=f"{server}/v1", api_key=project.read, max_retries=0).chat.completions.create(
            model="prompt:capital", messages=[], extra_body={"variables": {"country": "Spain"}})
    big = {"country": "x" * (project.config.server.max_body_bytes + 10)}
    with pytest.raises(openai.APIStatusError) as err:
        sdk.chat.completions.create(model="prompt:capital", messages=[], extra_body={"variables": big})
    assert err.value.status_code == 413 and err.value.body["code"] == "request_too_large"


def test_a_provider_failure_is_502_and_still_logged(sdk, project, fake):
    fake.configure(rate_500=1.0)
    try:
        with pytest.raises(openai.APIStatusError) as err:
            sdk.chat.completions.create(model="prompt:capital", messages=[],
                                        extra_body={"variables": {"country": "Ghana"}})
    finally:
        fake.configure(rate_500=0.0)
    assert err.value.status_code == 502 and err.value.body["type"] == "api_error"
    call = project.store.get_call(err.value.body["call_id"])
    assert call.output is None and "server" in call.error and call.source == "gateway"


def test_an_allowed_model_passes_through_and_is_logged(sdk, project, fake):
    answer = sdk.chat.completions.create(model="fake/a", messages=[{"role": "user", "content": "capital of Oman?"}],
                                         user="u-7", extra_body={"tags": ["pass"]})
    assert answer.choices[0].message.content == "Muscat"
    call = project.store.get_call(answer.id)
    assert (call.source, call.model, call.user_id, call.tags, call.prompt) == ("passthrough", "fake/a", "u-7",
                                                                               ["pass"], "")


def test_models_lists_the_served_prompts_and_allowed_models(sdk, project):
    ids = [m.id for m in sdk.models.list()]
    assert {"prompt:capital", "prompt:capital@production", "prompt:capital@staging", "fake/a"} <= set(ids)
    staging = next(m for m in sdk.models.list() if m.id == "prompt:capital@staging")
    assert staging.model_extra["promptops"]["version"] == project.v2


def test_context_is_stored_and_filterable(sdk, server, project):
    answer = sdk.chat.completions.create(
        model="prompt:capital", messages=[], user="user-42", metadata={"team": "search"},
        extra_body={"variables": {"country": "Norway"}, "session_id": "s-1", "tags": ["beta", "eu"]})
    h = {"Authorization": f"Bearer {project.read}"}
    for query in ({"user_id": "user-42"}, {"session_id": "s-1"}, {"tag": "eu"}, {"metadata": "team=search"},
                  {"source": "gateway", "user_id": "user-42"}):
        calls = httpx.get(f"{server}/v1/calls", params=query, headers=h).json()["calls"]
        assert [c["id"] for c in calls] == [answer.id], query
        assert calls[0]["metadata"] == {"team": "search"} and calls[0]["tags"] == ["beta", "eu"]
    assert httpx.get(f"{server}/v1/calls", params={"tag": "e"}, headers=h).json()["calls"] == []
    page = httpx.get(f"{server}/calls", params={"user_id": "user-42"}, headers=h)
    assert page.status_code == 200 and "user-42" in page.text and "beta" in page.text


def test_litellm_as_a_client(server, project):
    import litellm

    answer = litellm.completion(model="openai/prompt:capital", api_base=f"{server}/v1", api_key=project.write,
                                messages=[{"role": "user", "content": "Answer for Egypt, please."}],
                                extra_body={"variables": {"country": "Egypt"}}, num_retries=0)
    assert answer.choices[0].message.content == "Cairo"
    assert project.store.get_call(answer.id).variables == {"country": "Egypt"}
    stream = litellm.completion(model="openai/prompt:capital@staging", api_base=f"{server}/v1",
                                api_key=project.write, messages=[], stream=True,
                                extra_body={"variables": {"country": "Cuba"}}, num_retries=0)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Atlantis"


def test_gateway_calls_export_for_fine_tuning(sdk, project, tmp_path):
    # places outside the regression suite (its inputs never become training examples)
    rated = sdk.chat.completions.create(model="prompt:capital", messages=[],
                                        extra_body={"variables": {"country": "Atlantis"}})
    project.store.add_feedback(rated.id, score=1)
    extra = [{"role": "assistant", "content": "Erewhon City"}, {"role": "user", "content": "Are you sure?"}]
    corrected = sdk.chat.completions.create(model="prompt:capital", messages=extra,
                                            extra_body={"variables": {"country": "Erewhon"}})
    project.store.add_feedback(corrected.id, correction="Yes: Erewhon City.")
    result = export(project.config, "capital", out=tmp_path / "ft", version=project.v1, min_examples=2,
                    store=project.store)
    rows = [json.loads(line) for name in ("train.jsonl", "val.jsonl")
            for line in (tmp_path / "ft" / name).read_text().splitlines()]
    by_target = {r["messages"][-1]["content"]: r["messages"] for r in rows}
    assert result.train + result.val == len(rows) >= 2
    assert by_target[rated.choices[0].message.content][1]["content"].endswith("Atlantis?")
    messages = by_target["Yes: Erewhon City."]
    assert messages[1]["content"].endswith("Erewhon?") and messages[2:-1] == extra  # what followed the prompt
