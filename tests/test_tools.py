"""Prompts as real applications write them, evaluated against the fake server: tool calls,
chat history (the ``messages: <var>`` placeholder), structured output, output transforms, and the
built-in ``echo`` model."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from promptops.config import load_config
from promptops.errors import PromptFileError, RenderError
from promptops.eval.evaluate import evaluate
from promptops.prompts import parse_prompt
from promptops.providers import complete
from promptops.store import open_store
from promptops.testing.fake_answers import reply, tool_call
from promptops.testing.fake_openai import FakeOpenAI
from promptops.testing.project import make_project

WEATHER_PROMPT = """---
name: weather
input: {history: messages, question: string}
tools:
  - type: function
    function:
      name: get_weather
      description: the weather in a city
      parameters:
        type: object
        properties: {city: {type: string}, unit: {type: string, enum: [c, f]}}
        required: [city]
tool_choice: auto
suite: datasets/weather.yaml
models: [fake/a]
---
system:
You answer questions, calling tools when you need them.
messages: history
user:
{{ question }}
"""
WEATHER_SUITE = [
    {"id": "paris", "vars": {"history": [], "question": "weather in Paris?", "city": "Paris"},
     "assert": [{"type": "tool-call", "value": {"name": "get_weather", "arguments": {"city": "{{ vars.city }}"}}},
                {"type": "is-valid-tool-call"}, {"type": "finish-reason", "value": "tool_calls"}]},
    {"id": "rome-wrong", "vars": {"history": [], "question": "weather in Rome?", "city": "Milan"},
     "assert": [{"type": "tool-call", "value": {"name": "get_weather", "arguments": {"city": "{{ vars.city }}"}}}]},
    {"id": "bad-args", "vars": {"history": [], "question": "weather in Oslo, unit kelvin"},
     "assert": [{"type": "is-valid-tool-call"}]},
    {"id": "name-recalled", "vars": {"question": "what is my name?", "history": [
        {"role": "user", "content": "Hi, my name is Ada."}, {"role": "assistant", "content": "Hello Ada!"}]},
     "assert": [{"type": "icontains", "value": "Ada"}, {"type": "not-tool-call", "value": "get_weather"}]},
    {"id": "name-unknown", "vars": {"question": "what is my name?", "history": []},
     "assert": [{"type": "not-icontains", "value": "Ada"}]},
]
EXTRACT_PROMPT = """---
name: extract
input: {text: string}
response_format:
  type: object
  properties: {issue_type: {type: string, enum: [bug, feature]}, priority: {type: integer}}
  required: [issue_type, priority]
suite: datasets/extract.yaml
models: [fake/a]
---
user:
Extract the issue from: {{ text }}
"""
EXTRACT_SUITE = [
    {"id": "crash", "vars": {"text": "app crashes"}, "options": {"transform": "(output | fromjson).issue_type"},
     "assert": [{"type": "equals", "value": "bug"}]},
    {"id": "priority", "vars": {"text": "please add dark mode"},
     "assert": [{"type": "json-path", "path": "$.priority", "value": 3},
                {"type": "equals", "value": "feature", "transform": "(output | fromjson).issue_type"}]},
    {"id": "off-schema", "vars": {"text": "gibberish"}, "assert": []},
]


def rules():
    return {"*": [
        (r"weather in (\w+), unit kelvin", tool_call("get_weather", city="\\1", unit="kelvin")),
        (r"weather in (\w+)", tool_call("get_weather", city="\\1")),
        (r"history:my name is (\w+).*what is my name", "Your name is \\1."),
        (r"what is my name", "I don't know your name."),
        (r"app crashes", '{"issue_type": "bug", "priority": 1}'),
        (r"dark mode", '{"issue_type": "feature", "priority": 3}'),
        (r"gibberish", '{"issue_type": "question"}'),
    ]}


@pytest.fixture()
def project(tmp_path: Path, fake_openai: FakeOpenAI) -> Path:
    fake_openai.configure(rules=rules())
    root = make_project(tmp_path / "repo", fake_openai.base_url, commit=False)
    (root / "prompts" / "weather.prompt").write_text(WEATHER_PROMPT)
    (root / "prompts" / "extract.prompt").write_text(EXTRACT_PROMPT)
    (root / "datasets" / "weather.yaml").write_text(yaml.safe_dump(WEATHER_SUITE))
    (root / "datasets" / "extract.yaml").write_text(yaml.safe_dump(EXTRACT_SUITE))
    return root


def _by_case(report, prompt: str):
    summary = next(s for s in report.summaries if s.prompt == prompt)
    return {r.case_id: r for r in summary.results}


def test_tool_calls_history_and_structured_output_are_graded(project, fake_openai):
    report = evaluate(load_config(project), ["weather", "extract"])
    weather = _by_case(report, "weather")
    assert {k: r.passed for k, r in weather.items()} == {
        "paris": True, "rome-wrong": False, "bad-args": False, "name-recalled": True, "name-unknown": True}
    assert "Rome" in weather["rome-wrong"].reason and "wanted" in weather["rome-wrong"].reason
    assert "unit" in weather["bad-args"].reason and "kelvin" in weather["bad-args"].reason
    calls = json.loads(weather["paris"].output)  # a tool-call answer's output is its tool calls, as JSON
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    extract = _by_case(report, "extract")
    assert {k: r.passed for k, r in extract.items()} == {"crash": True, "priority": True, "off-schema": False}
    assert "json-schema" in extract["off-schema"].reason  # response_format's schema checked by default
    evaluate(load_config(project), ["extract"], use_cache=False)
    body = fake_openai.last_request
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["issue_type", "priority"]


def test_the_request_carries_tools_tool_choice_and_the_history(project, fake_openai):
    evaluate(load_config(project), ["weather"])
    seen = []
    fake_openai.configure(rules=lambda model, messages: seen.append(messages) or "ok")
    evaluate(load_config(project), ["weather"], use_cache=False)
    body = fake_openai.last_request
    assert body["tools"][0]["function"]["name"] == "get_weather" and body["tool_choice"] == "auto"
    recalled = next(m for m in seen if any(x.get("content") == "Hello Ada!" for x in m))
    assert [m["role"] for m in recalled] == ["system", "user", "assistant", "user"]
    assert recalled[-1]["content"] == "what is my name?"


def test_tool_calls_survive_the_cache_and_the_store(project, fake_openai):
    first = _by_case(evaluate(load_config(project), ["weather"]), "weather")
    fake_openai.reset()
    again = evaluate(load_config(project), ["weather"])
    assert fake_openai.count() == 0 and again.cached == 5
    cached = _by_case(again, "weather")
    assert {k: r.passed for k, r in cached.items()} == {k: r.passed for k, r in first.items()}
    assert cached["paris"].output == first["paris"].output
    store = open_store(load_config(project))
    try:
        rows = store.results(again.summaries[0].run_id)
        assert any("get_weather" in (r.output or "") for r in rows)
    finally:
        store.close()


async def test_completion_carries_tool_calls_and_finish_reason(fake_openai):
    fake_openai.configure(rules={"*": [("both", reply("Checking.", tool_call("f", x=1)))]})
    config = load_config_for(fake_openai)
    done = await complete("fake/a", [{"role": "user", "content": "both please"}], {}, config=config)
    assert done.text == "Checking." and done.finish_reason == "tool_calls"
    assert done.tool_calls == [{"id": done.tool_calls[0]["id"], "type": "function",
                                "function": {"name": "f", "arguments": '{"x": 1}'}}]
    plain = await complete("fake/a", [{"role": "user", "content": "hi"}], {}, config=config)
    assert plain.tool_calls is None and plain.finish_reason == "stop"


def load_config_for(server: FakeOpenAI):
    from promptops.config import Config

    return Config.from_dict({"models": {"fake/a": {"model": "openai/a", "api_base": server.base_url,
                                                   "params": {"api_key": "x"}}}})


def test_fake_server_streams_tool_calls_and_matches_history(fake_openai):
    fake_openai.configure(rules={"*": [("history:user: first.*user: second", "saw both"),
                                       ("call", tool_call("lookup", q="\\g<0>"))]})
    url = fake_openai.base_url + "/chat/completions"
    two = httpx.post(url, json={"model": "m", "messages": [{"role": "user", "content": "first"},
                                                         {"role": "user", "content": "second"}]}).json()
    assert two["choices"][0]["message"]["content"] == "saw both"
    one = httpx.post(url, json={"model": "m", "messages": [{"role": "user", "content": "second"}]}).json()
    assert one["choices"][0]["message"]["content"] == "second"  # echo: the history rule needs both turns
    streamed = httpx.post(url, json={"model": "m", "stream": True,
                                     "messages": [{"role": "user", "content": "call it"}]}).text
    first = json.loads(streamed.split("\n\n")[0].removeprefix("data: "))
    delta = first["choices"][0]["delta"]
    assert delta["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"q": "call"}'}
    assert '"finish_reason": "tool_calls"' in streamed


async def test_echo_model_needs_no_server():
    done = await complete("echo", [{"role": "user", "content": "say hi"}], {})
    assert done.text == "say hi" and done.cost_usd == 0.0 and done.finish_reason == "stop"
    chat = await complete("echo", [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], {})
    assert json.loads(chat.text) == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


BASE = "---\nname: p\ninput: {h: messages, q: string}\n%s---\n%s"


@pytest.mark.parametrize("front, body, message", [
    ("", "user:\n{{ q }}\nmessages: hist\n", "declared as messages"),
    ("", "messages: h\nstray text\nuser:\n{{ q }}\n", "text after 'messages: h'"),
    ("tools: [{type: function, function: {description: x}}]\n", "user:\n{{ q }}\n", "tool name"),
    ("tools: [{name: f}]\ntool_choice: g\n", "user:\n{{ q }}\n", "names no declared tool"),
    ("response_format: {type: xml}\n", "user:\n{{ q }}\n", "unknown response_format"),
    ("tools: []\n", "user:\n{{ q }}\n", "non-empty list"),
])
def test_bad_chat_prompts_are_refused_with_the_line(front, body, message):
    with pytest.raises(PromptFileError, match=message) as info:
        parse_prompt(BASE % (front, body), source="p.prompt")
    assert info.value.where.startswith("p.prompt:")


def test_history_is_checked_and_inserted_where_the_line_is():
    prompt = parse_prompt(BASE % ("", "system:\nS\nmessages: h\nuser:\n{{ q }}\n"))
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": None,
                                                 "tool_calls": [{"id": "1", "type": "function",
                                                                 "function": {"name": "f", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "1", "content": "42"}]
    messages = prompt.render({"h": turns, "q": "b"})
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "user"]
    assert "messages: h" in prompt.to_text()
    for bad, why in (([{"role": "robot", "content": "x"}], "role one of"), ("hi", "must be messages"),
                     ([{"role": "user", "content": "x", "extra": 1}], "unknown key")):
        with pytest.raises(RenderError, match=why):
            prompt.render({"h": bad, "q": "b"})
