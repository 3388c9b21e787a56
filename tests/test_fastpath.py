"""Parity of the compiled plans (promptops.providers.fastpath) with ``litellm.acompletion``.

Every provider on the fast path's allowlist has its scenarios here, against the fake server: the
same URL, headers and body on the wire; the same text, usage, finish reason, tool calls and cost;
the same litellm exception class and status for 401/404/429/500, a timeout and a refused
connection (promptops' error kind for the last, see below). A provider that fails these does not
belong on ``ALLOWED``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys

import pytest

from promptops.config import Config, ModelOptions
from promptops.providers import ProviderError, complete, fastpath, plancache, setup_litellm
from promptops.providers.litellm import call_kwargs
from promptops.providers.errors import classify
from promptops.testing.fake_anthropic import FakeAnthropic

KEY = "sk-fake-PARITY-0123456789"
MSG = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "capital of France?"}]
#: a model per provider on the OpenAI wire
OPENAI_MODELS = {
    "openai": "openai/gpt-4o-mini", "custom_openai": "custom_openai/my-model", "lm_studio": "lm_studio/my-model",
    "litellm_proxy": "litellm_proxy/my-model", "perplexity": "perplexity/sonar", "cerebras": "cerebras/llama3.1-8b",
    "nebius": "nebius/meta-llama/Meta-Llama-3.1-8B-Instruct",
}
ANTHROPIC = "anthropic/claude-haiku-4-5"
CASES = [*OPENAI_MODELS.values(), ANTHROPIC]
COMPARED_HEADERS = ("authorization", "x-api-key", "anthropic-version", "anthropic-beta", "content-type", "x-trace")
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look a city up.",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


def test_every_allowed_provider_has_parity_cases():
    assert set(OPENAI_MODELS) == set(fastpath.OPENAI_WIRE)
    assert fastpath.ALLOWED == fastpath.OPENAI_WIRE | {"anthropic"}


@pytest.fixture(scope="module")
def server():
    with FakeAnthropic(rules={"*": [(r"capital of France", "Paris")]}, api_key=KEY) as srv:
        yield srv


@pytest.fixture
def fake(server):
    server.configure(fail_first=0, fail_status=500, latency=0.0, known_models=None, tool_calls=None,
                     retry_after=None)
    server.reset()
    server.requests.clear()
    return server


@pytest.fixture(scope="module")
def litellm():
    return setup_litellm()


def base_for(server, target: str) -> str:
    return server.root_url if target.startswith("anthropic/") else server.base_url


def both(litellm, server, target: str, kwargs: dict, messages=MSG, timeout: float = 5.0):
    """(fast path outcome, acompletion outcome): each the response or the exception, with the
    request the server recorded."""
    async def fast():
        plan = fastpath.plan_for(litellm, target, kwargs)
        assert plan is not None, f"{target} is not on the fast path"
        try:
            return await fastpath.send(litellm, plan, [dict(m) for m in messages], timeout)
        finally:
            await fastpath.close_sessions()

    async def plain():
        return await litellm.acompletion(model=target, messages=[dict(m) for m in messages], num_retries=0,
                                         timeout=timeout, **kwargs)

    out = []
    for fn in (fast, plain):
        server.requests.clear()
        try:
            result = asyncio.run(fn())
        except Exception as exc:  # noqa: BLE001 - compared below
            result = exc
        out.append((result, server.requests[-1] if server.requests else None))
    return out


def wire(request: dict) -> tuple:
    headers = {k: v for k, v in request["headers"].items() if k in COMPARED_HEADERS}
    headers["content-type"] = headers.get("content-type", "").split(";")[0]
    return request["path"], headers, request["body"]


def answer(response) -> tuple:
    choice = response.choices[0]
    calls = [(c.function.name, c.function.arguments) for c in (choice.message.tool_calls or [])]
    u = response.usage
    return choice.message.content, choice.finish_reason, calls, (u.prompt_tokens, u.completion_tokens, u.total_tokens)


@pytest.mark.parametrize("target", CASES)
def test_text_answer_same_wire_same_result(litellm, fake, target):
    kwargs = {"api_base": base_for(fake, target), "api_key": KEY, "temperature": 0, "max_tokens": 16,
              "extra_headers": {"X-Trace": "t-1"}}
    (ours, our_req), (theirs, their_req) = both(litellm, fake, target, kwargs)
    assert not isinstance(ours, Exception), ours
    assert not isinstance(theirs, Exception), theirs
    assert wire(our_req) == wire(their_req)
    assert answer(ours) == answer(theirs)
    assert ours.choices[0].message.content == "Paris"


@pytest.mark.parametrize("target", CASES)
def test_tool_calls_same_wire_same_result(litellm, fake, target):
    fake.configure(tool_calls=[{"name": "lookup", "arguments": {"city": "Paris"}}])
    kwargs = {"api_base": base_for(fake, target), "api_key": KEY, "tools": TOOLS, "tool_choice": "auto",
              "max_tokens": 32}
    (ours, our_req), (theirs, their_req) = both(litellm, fake, target, kwargs)
    if isinstance(theirs, Exception):  # litellm knows the model takes no tools: the same refusal
        assert type(ours) is type(theirs) and str(ours) == str(theirs)
        return
    assert not isinstance(ours, Exception), ours
    assert wire(our_req) == wire(their_req)
    assert answer(ours) == answer(theirs)
    assert answer(ours)[2] == [("lookup", '{"city": "Paris"}')]


def _error(litellm, fake, target, kwargs, timeout=5.0):
    (ours, our_req), (theirs, their_req) = both(litellm, fake, target, kwargs, timeout=timeout)
    assert isinstance(ours, Exception) and isinstance(theirs, Exception), (ours, theirs)
    if our_req is not None or their_req is not None:
        assert wire(our_req) == wire(their_req)
    return ours, theirs


@pytest.mark.parametrize("target", CASES)
@pytest.mark.parametrize("scenario", ["401", "404", "429", "500"])
def test_error_answers_raise_the_same_litellm_exception(litellm, fake, target, scenario):
    kwargs = {"api_base": base_for(fake, target), "api_key": KEY}
    if scenario == "401":
        kwargs["api_key"] = "sk-wrong"
    elif scenario == "404":
        fake.configure(known_models=["another-model"])
    else:
        fake.configure(fail_first=2, fail_status=int(scenario))  # both clients see a failure
    ours, theirs = _error(litellm, fake, target, kwargs)
    assert type(ours) is type(theirs), (ours, theirs)
    assert getattr(ours, "status_code", None) == getattr(theirs, "status_code", None) == int(scenario)
    assert classify(ours) == classify(theirs)
    assert "sk-wrong" not in str(ours)


@pytest.mark.parametrize("target", CASES)
def test_a_timeout_raises_litellm_timeout(litellm, fake, target):
    fake.configure(latency=2.0)
    ours, theirs = _error(litellm, fake, target, {"api_base": base_for(fake, target), "api_key": KEY}, timeout=0.3)
    assert type(ours) is type(theirs)
    assert classify(ours) == classify(theirs) == "timeout"


@pytest.mark.parametrize("target", CASES)
def test_a_refused_connection_is_a_connection_error(litellm, fake, target):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}" + ("" if target.startswith("anthropic/") else "/v1")
    ours, theirs = _error(litellm, fake, target, {"api_base": base, "api_key": KEY})
    # the one known difference: acompletion (OpenAI SDK) raises InternalServerError("Connection
    # error."), the plan litellm.APIConnectionError; both are a connection failure to promptops
    assert classify(ours) == classify(theirs) == "connection"


@pytest.mark.parametrize("target", ["openai/gpt-4o-mini", "openai/no-such-priced-model", ANTHROPIC,
                                    "perplexity/sonar", "lm_studio/my-model"])
def test_complete_gives_the_same_completion_either_way(fake, target, monkeypatch):
    monkeypatch.setenv("PARITY_KEY", KEY)
    opts = ModelOptions(model=target, api_base=base_for(fake, target), api_key_env="PARITY_KEY",
                        params={"temperature": 0, "max_tokens": 16})
    results = []
    for direct in (True, False):
        config = Config(models={"m": opts}, timeout=5, litellm_direct=direct)
        done = asyncio.run(complete("m", MSG, config=config))
        results.append((done.text, done.prompt_tokens, done.completion_tokens, done.cost_usd, done.model))
    assert results[0] == results[1]
    assert results[0][0] == "Paris"
    priced = target in ("openai/gpt-4o-mini", ANTHROPIC, "perplexity/sonar")
    assert (results[0][3] is not None and results[0][3] > 0) if priced else results[0][3] is None


def test_cost_with_cached_tokens_is_litellms_full_cost(litellm):
    from litellm.types.utils import ModelResponse

    plan = fastpath.plan_for(litellm, "openai/gpt-4o-mini", {"api_base": "http://127.0.0.1:9/v1", "api_key": KEY})
    response = ModelResponse(model="gpt-4o-mini", choices=[{"message": {"role": "assistant", "content": "x"}}],
                             usage={"prompt_tokens": 2000, "completion_tokens": 10, "total_tokens": 2010,
                                    "prompt_tokens_details": {"cached_tokens": 1500}})
    full = litellm.completion_cost(completion_response=response, model="gpt-4o-mini", custom_llm_provider="openai")
    assert fastpath.cost_of(litellm, plan, response) == pytest.approx(full)
    assert full < 2000 * plan.prices[0] + 10 * plan.prices[1]  # the cached tokens are cheaper


@pytest.mark.parametrize("kwargs", [{"stream": True}, {"mock_response": "hi"}, {"fallbacks": ["x"]},
                                    {"input_cost_per_token": 1.0}, {"metadata": {"a": 1}}])
def test_parameters_the_plan_does_not_replay_stay_on_acompletion(litellm, kwargs):
    assert fastpath.plan_for(litellm, "openai/gpt-4o-mini", {"api_key": KEY, **kwargs}) is None


@pytest.mark.parametrize("target", ["bedrock/anthropic.claude-3-haiku", "vertex_ai/gemini-pro", "azure/my-deploy",
                                    "ollama/llama3", "local/smollm2", "groq/llama-3.1-8b-instant",
                                    "mistral/mistral-small", "nvidia_nim/meta/llama3-8b-instruct"])
def test_other_providers_stay_on_acompletion(litellm, target):
    assert fastpath.plan_for(litellm, target, {"api_key": KEY}) is None


def test_a_litellm_callback_sends_calls_through_acompletion(litellm, monkeypatch):
    monkeypatch.setattr(litellm, "success_callback", [lambda *a, **k: None])
    assert fastpath.plan_for(litellm, "openai/gpt-4o-mini", {"api_key": KEY}) is None


def test_direct_off_calls_acompletion(fake, monkeypatch):
    litellm = setup_litellm()
    calls = []
    original = litellm.acompletion

    async def spy(**kwargs):
        calls.append(kwargs["model"])
        return await original(**kwargs)

    monkeypatch.setattr(litellm, "acompletion", spy)
    monkeypatch.setenv("PARITY_KEY", KEY)
    opts = ModelOptions(model="openai/gpt-4o-mini", api_base=fake.base_url, api_key_env="PARITY_KEY")
    for direct in (True, False):
        asyncio.run(complete("m", MSG, config=Config(models={"m": opts}, litellm_direct=direct)))
    assert calls == ["openai/gpt-4o-mini"]  # only the call with the plan switched off


def test_unsupported_parameter_is_litellms_error(fake, monkeypatch):
    monkeypatch.setenv("PARITY_KEY", KEY)
    # anthropic has no logit_bias: litellm raises UnsupportedParamsError unless drop_params
    opts = ModelOptions(model=ANTHROPIC, api_base=fake.root_url, api_key_env="PARITY_KEY",
                        params={"logit_bias": {"1": 1}})
    kinds = []
    for direct in (True, False):
        with pytest.raises(ProviderError) as info:
            asyncio.run(complete("m", MSG, config=Config(models={"m": opts}, litellm_direct=direct)))
        kinds.append(info.value.kind)
    assert kinds[0] == kinds[1] == "bad_request"
    opts.params["drop_params"] = True
    done = asyncio.run(complete("m", MSG, config=Config(models={"m": opts})))
    assert done.text == "Paris"
    assert "logit_bias" not in fake.requests[-1]["body"]


# ----------------------------------------------------------------------------- plans on disk


def _disk_config(tmp_path, fake, target="openai/gpt-4o-mini", **params):
    opts = ModelOptions(model=target, api_base=fake.base_url, api_key_env="PARITY_KEY",
                        params={"temperature": 0, "max_tokens": 16, **params})
    return Config(models={"m": opts}, timeout=5, root=tmp_path)


def test_a_pass_through_plan_is_stored_without_the_key(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("PARITY_KEY", KEY)
    config = _disk_config(tmp_path, fake)
    first = asyncio.run(complete("m", MSG, config=config))
    text = (tmp_path / ".promptops" / "plans.json").read_text()
    assert KEY not in text and "gpt-4o-mini" in text
    plancache._LOADED.clear()
    plan = plancache.lookup(config, "openai/gpt-4o-mini", call_kwargs("m", {}, config)[1])
    assert plan is not None and plan.headers["Authorization"] == f"Bearer {KEY}"
    second = asyncio.run(complete("m", MSG, config=config))
    assert (first.text, first.prompt_tokens, first.completion_tokens, first.cost_usd) == \
        (second.text, second.prompt_tokens, second.completion_tokens, second.cost_usd)
    assert wire(fake.requests[-1]) == wire(fake.requests[-2])


def test_a_stored_plan_serves_a_run_without_importing_litellm(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("PARITY_KEY", KEY)
    config = _disk_config(tmp_path, fake)
    asyncio.run(complete("m", MSG, config=config))  # compiles and stores the plan
    code = ("import asyncio, sys; from promptops.config import Config, ModelOptions; "
            "from promptops.providers import complete; "
            f"opts = ModelOptions(model='openai/gpt-4o-mini', api_base={fake.base_url!r}, api_key_env='PARITY_KEY', "
            "params={'temperature': 0, 'max_tokens': 16}); "
            f"c = Config(models={{'m': opts}}, timeout=5, root=__import__('pathlib').Path({str(tmp_path)!r})); "
            f"d = asyncio.run(complete('m', {MSG!r}, config=c)); "
            "assert 'litellm' not in sys.modules, 'litellm imported'; print(d.text, d.cost_usd)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[0] == "Paris"


def test_a_stored_plan_error_is_litellms_error(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("PARITY_KEY", KEY)
    config = _disk_config(tmp_path, fake)
    asyncio.run(complete("m", MSG, config=config))
    fake.configure(fail_first=5, fail_status=429, retry_after="2")
    kinds = []
    for direct in (True, False):
        with pytest.raises(ProviderError) as info:
            asyncio.run(complete("m", [{"role": "user", "content": "other question"}],
                                 config=Config(models=config.models, timeout=5, root=tmp_path, litellm_direct=direct)))
        kinds.append((info.value.kind, info.value.status_code, info.value.retry_after))
    assert kinds[0] == kinds[1] == ("rate_limit", 429, 2.0)


def test_a_stale_or_foreign_plan_file_is_ignored(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("PARITY_KEY", KEY)
    config = _disk_config(tmp_path, fake)
    asyncio.run(complete("m", MSG, config=config))
    path = tmp_path / ".promptops" / "plans.json"
    data = json.loads(path.read_text())
    data["litellm"] = "0.0.1"
    path.write_text(json.dumps(data))
    plancache._LOADED.clear()
    assert plancache.lookup(config, "openai/gpt-4o-mini", call_kwargs("m", {}, config)[1]) is None
    path.write_text("{not json")
    plancache._LOADED.clear()
    assert plancache.lookup(config, "openai/gpt-4o-mini", call_kwargs("m", {}, config)[1]) is None
    assert asyncio.run(complete("m", MSG, config=config)).text == "Paris"


def test_plans_that_are_not_pass_throughs_are_not_stored(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("PARITY_KEY", KEY)
    opts = ModelOptions(model=ANTHROPIC, api_base=fake.root_url, api_key_env="PARITY_KEY")
    config = Config(models={"m": opts}, timeout=5, root=tmp_path)
    asyncio.run(complete("m", MSG, config=config))
    assert not (tmp_path / ".promptops" / "plans.json").exists()


def test_workers_of_an_eval_whose_plans_are_on_disk_never_import_litellm(tmp_path, fake):
    """The forkserver preloads litellm only when a call needs it: with every plan on disk, an eval
    spread over worker processes imports litellm in no process (its import is seconds of CPU)."""
    import json

    import yaml

    (tmp_path / "prompts").mkdir()
    (tmp_path / "datasets").mkdir()
    (tmp_path / "prompts" / "w.prompt").write_text(
        "---\nname: w\nmodels: [m]\nparams: {temperature: 0, max_tokens: 16}\ninput: {q: string}\n"
        "suite: datasets/w.jsonl\nassert:\n  - type: contains\n    value: Paris\n---\nuser:\n{{ q }}\n")
    with open(tmp_path / "datasets" / "w.jsonl", "w") as f:
        for i in range(240):
            f.write(json.dumps({"id": f"c{i}", "vars": {"q": f"capital of France? {i}"}}) + "\n")
    (tmp_path / "promptops.yaml").write_text(yaml.safe_dump({"models": {"m": {
        "model": "openai/gpt-4o-mini", "api_base": fake.base_url, "api_key_env": "PARITY_KEY"}}, "workers": 2}))
    cli = [sys.executable, "-m", "promptops.cli.main", "eval", "w", "-q", "--no-cache", "--json"]
    env = {**os.environ, "PROMPTOPS_WORKERS": "2", "PARITY_KEY": KEY}
    first = subprocess.run(cli + ["one.json"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (tmp_path / ".promptops" / "plans.json").exists()
    poison = tmp_path / "poison" / "litellm"
    poison.mkdir(parents=True)
    marker = tmp_path / "imported"
    (poison / "__init__.py").write_text(
        f"import os\nopen({str(marker)!r}, 'a').write(str(os.getpid()) + '\\n')\nraise ImportError('poisoned')\n")
    path = os.pathsep.join([str(tmp_path / "poison"), os.environ.get("PYTHONPATH", "")])
    second = subprocess.run(cli + ["two.json"], cwd=tmp_path, capture_output=True, text=True,
                            env={**env, "PYTHONPATH": path})
    assert second.returncode == 0, second.stderr[-2000:]
    assert not marker.exists(), f"litellm imported by processes {marker.read_text().split()}"
    result = json.loads((tmp_path / "two.json").read_text())["results"][0]
    assert (result["total"], result["passed"], result["errors"]) == (240, 240, 0)
