"""complete() through litellm against the fake server, and the local/ provider with a fake backend."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from promptops.config import Config, ModelOptions
from promptops.providers import Completion, ProviderError, complete
from promptops.providers.batching import GenResult
from promptops.testing import FakeOpenAI

SECRET = "sk-test-SECRET-0123456789"
MSG = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(rules={"*": [(r"capital of France", "Paris")]}, api_key=SECRET) as srv:
        yield srv


@pytest.fixture
def fake(server):
    server.configure(rate_429=0.0, rate_500=0.0, rate_timeout=0.0, fail_first=0, latency=0.0)
    server.reset()
    return server


def config_for(server, **opts) -> Config:
    base = {"model": "openai/fake-model", "api_base": server.base_url, "api_key_env": "FAKE_LLM_KEY"}
    base.update(opts)
    return Config(models={"fake": ModelOptions(**base)}, timeout=5)


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", SECRET)


def test_import_is_cheap():
    code = ("import sys, promptops.providers, promptops.providers.batching, promptops.localmodels, "
            "promptops.testing; "
            "bad = [m for m in ('litellm', 'torch', 'transformers', 'openai') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- the registry


@pytest.mark.parametrize("model,provider,in_process,priced,concurrency,name", [
    ("local/smollm2", "local", True, False, 64, "smollm2"),
    ("local/smollm2+job-1", "local", True, False, 64, "smollm2+job-1"),
    ("local//abs/model.gguf", "local", True, False, 64, "/abs/model.gguf"),
    ("openai/gpt-4o-mini", "litellm", False, True, None, "openai/gpt-4o-mini"),
    ("gpt-4o", "litellm", False, True, None, "gpt-4o"),
    ("fake", "litellm", False, True, None, "fake"),
    ("localhost/x", "litellm", False, True, None, "localhost/x"),  # the prefix includes the slash
    ("Local/x", "litellm", False, True, None, "Local/x"),
])
def test_spec_by_prefix(model, provider, in_process, priced, concurrency, name):
    from promptops.providers import is_local, spec_for

    spec = spec_for(model)
    assert (spec.name, spec.in_process, spec.priced, spec.default_concurrency) == \
        (provider, in_process, priced, concurrency)
    assert is_local(model) is (provider == "local")
    assert spec.strip(model) == name


@pytest.mark.parametrize("name,base,adapter", [
    ("smollm2", "smollm2", None),
    ("smollm2+job-1", "smollm2", "job-1"),
    ("/m/base.gguf+/a/adapter", "/m/base.gguf", "/a/adapter"),
    ("base+a+b", "base", "a+b"),  # the first + splits
    ("base+", "base", None),
])
def test_local_names_split_into_base_and_adapter(name, base, adapter):
    from promptops.providers import LITELLM, LOCAL

    assert LOCAL.split(name) == (base, adapter)
    assert LITELLM.split(name) == (name, None)  # litellm names carry no adapter


def test_local_prefix_is_stripped_once():
    from promptops.providers import LOCAL

    assert LOCAL.strip("local/local/x") == "local/x"  # a folder named local stays a path
    assert LOCAL.strip("smollm2") == "smollm2"


def test_one_retryable_set():
    from promptops.eval import calls
    from promptops.providers import errors

    assert calls.RETRYABLE is errors.RETRYABLE
    assert ProviderError("server", "x").retryable and not ProviderError("auth", "x").retryable


async def test_complete_through_litellm(fake, key_env):
    got = await complete("fake", MSG, {"temperature": 0, "max_tokens": 10}, config=config_for(fake))
    assert isinstance(got, Completion)
    assert got.text == "Paris"
    assert got.model == "fake"
    assert got.prompt_tokens > 0 and got.completion_tokens == 1
    assert got.cost_usd is None  # litellm has no price for this model
    assert got.latency_ms > 0
    assert fake.count(model="fake-model") == 1  # the litellm name went to the server


async def test_model_params_from_config_and_call(fake, key_env):
    cfg = config_for(fake, params={"max_tokens": 1})
    got = await complete("fake", [{"role": "user", "content": "one two three"}], {}, config=cfg)
    assert got.text == "one"
    got = await complete("fake", [{"role": "user", "content": "one two three"}], {"max_tokens": 2}, config=cfg)
    assert got.text == "one two"


async def test_missing_key_env_is_auth_error_naming_the_variable(fake, monkeypatch):
    monkeypatch.delenv("FAKE_LLM_KEY", raising=False)
    with pytest.raises(ProviderError) as info:
        await complete("fake", MSG, {}, config=config_for(fake))
    assert info.value.kind == "auth" and not info.value.retryable
    assert "FAKE_LLM_KEY" in str(info.value)
    assert fake.count() == 0


async def test_wrong_key_is_auth_error_without_the_key(fake, monkeypatch):
    wrong = "sk-wrong-TOPSECRET-987"
    monkeypatch.setenv("FAKE_LLM_KEY", wrong)
    with pytest.raises(ProviderError) as info:
        await complete("fake", MSG, {}, config=config_for(fake))
    assert info.value.kind == "auth" and not info.value.retryable
    assert wrong not in str(info.value) and SECRET not in str(info.value)


def test_key_is_scrubbed_from_provider_messages():
    import litellm

    from promptops.providers.errors import to_provider_error

    exc = litellm.BadRequestError(message=f"bad key {SECRET} here", model="m", llm_provider="openai")
    err = to_provider_error(exc, "m", SECRET)
    assert err.kind == "bad_request"
    assert SECRET not in str(err) and SECRET not in err.message


@pytest.mark.parametrize("setting,kind", [
    ({"rate_429": 1.0}, "rate_limit"),
    ({"rate_500": 1.0}, "server"),
    ({"rate_timeout": 1.0, "hang": 10.0}, "timeout"),
])
async def test_failures_map_to_retryable_kinds(fake, key_env, setting, kind):
    fake.configure(**setting)
    with pytest.raises(ProviderError) as info:
        await complete("fake", MSG, {}, config=config_for(fake, timeout=0.5))
    assert info.value.kind == kind
    assert info.value.retryable
    assert fake.count() == 1  # no retries inside litellm or the OpenAI SDK


async def test_not_found_and_bad_request(fake, key_env):
    fake.configure(known_models=["other"])
    try:
        with pytest.raises(ProviderError) as info:
            await complete("fake", MSG, {}, config=config_for(fake))
        assert info.value.kind == "not_found" and not info.value.retryable
    finally:
        fake.configure(known_models=None)
    with pytest.raises(ProviderError) as info:
        await complete("no-provider-model-xyz", MSG, {}, config=Config())
    assert info.value.kind in ("not_found", "bad_request") and not info.value.retryable


async def test_connection_error(key_env):
    cfg = Config(models={"fake": ModelOptions(model="openai/x", api_base="http://127.0.0.1:9/v1",
                                              api_key_env="FAKE_LLM_KEY")})
    with pytest.raises(ProviderError) as info:
        await complete("fake", MSG, {}, config=cfg)
    assert info.value.kind == "connection" and info.value.retryable


async def test_fail_first_then_success(fake, key_env):
    fake.configure(fail_first=1)
    cfg = config_for(fake)
    with pytest.raises(ProviderError) as info:
        await complete("fake", MSG, {}, config=cfg)
    assert info.value.kind == "server"
    assert (await complete("fake", MSG, {}, config=cfg)).text == "Paris"


async def test_litellm_env_vars_work_when_config_sets_nothing(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
    got = await complete("openai/env-model", MSG, {}, config=Config())
    assert got.text == "Paris"
    assert fake.count(model="env-model") == 1
    got = await complete("openai/env-model", MSG, {}, config=None)
    assert got.text == "Paris"


async def test_concurrent_calls(fake, key_env):
    cfg = config_for(fake)
    got = await asyncio.gather(*[
        complete("fake", [{"role": "user", "content": f"q{i}"}], {}, config=cfg) for i in range(50)])
    assert sorted(c.text for c in got) == sorted(f"q{i}" for i in range(50))


# ----------------------------------------------------------------------------- local/ via litellm


class FakeBackend:
    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def generate(self, model, batch, settings):
        self.calls.append((model, len(batch)))
        return [GenResult(f"{model}|{m[-1]['content']}|STOP|tail", 7, settings.max_tokens) for m in batch]


@pytest.fixture
def fake_backend():
    from promptops.providers import local

    backend = FakeBackend()
    local.set_backend(backend)
    yield backend
    local.set_backend(None)


async def test_local_call_reaches_handler_through_litellm(fake_backend):
    got = await complete("local/tiny+job-7", [{"role": "user", "content": "hi"}],
                         {"max_tokens": 5, "stop": ["|STOP"]}, config=Config())
    assert got.text == "tiny+job-7|hi"  # the +adapter suffix reaches the handler; stop cut the text
    assert (got.prompt_tokens, got.completion_tokens, got.cost_usd) == (7, 5, 0.0)
    assert got.model == "local/tiny+job-7"


async def test_local_calls_arriving_together_are_batched(fake_backend):
    got = await asyncio.gather(*[
        complete("local/tiny", [{"role": "user", "content": f"q{i}"}], {"max_tokens": 3}, config=None)
        for i in range(40)])
    assert [c.text for c in got] == [f"tiny|q{i}|STOP|tail" for i in range(40)]
    sizes = [n for _, n in fake_backend.calls]
    assert sum(sizes) == 40 and max(sizes) <= 32
    assert len(sizes) < 40


async def test_local_unknown_model_is_not_found():
    with pytest.raises(ProviderError) as info:
        await complete("local/definitely/not/here", MSG, {}, config=None)
    assert info.value.kind == "not_found" and not info.value.retryable


def test_collector_paused_restores_the_collector():
    import gc

    from promptops._util.lazy import collector_paused

    assert gc.isenabled()
    with pytest.raises(ImportError):
        with collector_paused():
            assert not gc.isenabled()
            import promptops_no_such_module  # noqa: F401
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller's own setting is kept
    finally:
        gc.enable()


# ----------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("model", ["openai/fake-model", "anthropic/claude-haiku-4-5"])
@pytest.mark.parametrize("header,seconds", [("3", 3.0), ("0.5", 0.5), ("soon", None)])
def test_retry_after_reaches_the_provider_error(monkeypatch, direct, model, header, seconds):
    from promptops.testing.fake_anthropic import FakeAnthropic

    monkeypatch.setenv("FAKE_LLM_KEY", SECRET)
    with FakeAnthropic(api_key=SECRET, fail_first=10, fail_status=429, retry_after=header) as srv:
        base = srv.root_url if model.startswith("anthropic/") else srv.base_url
        config = Config(models={"m": ModelOptions(model=model, api_base=base, api_key_env="FAKE_LLM_KEY")},
                        timeout=5, litellm_direct=direct)
        with pytest.raises(ProviderError) as info:
            asyncio.run(complete("m", MSG, config=config))
    assert info.value.kind == "rate_limit"
    assert info.value.retry_after == seconds


def test_retry_after_forms():
    import email.utils

    from promptops.providers.errors import retry_after_of

    class Exc(Exception):
        def __init__(self, headers):
            self.litellm_response_headers = headers

    assert retry_after_of(Exc({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after_of(Exc({"Retry-After": "7"})) == 7.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_of(Exc({"retry-after": later})) <= 30
    assert retry_after_of(Exc({})) is None and retry_after_of(ValueError("x")) is None


async def test_local_calls_queued_past_the_call_timeout_are_answered_not_retried():
    """The runner's per-call timeout does not expire calls waiting in the local batching queue."""
    import time

    from promptops.eval.calls import call_with_retries
    from promptops.providers import local

    class Slow:
        batches = 0

        def generate(self, model, batch, settings):
            Slow.batches += 1
            time.sleep(0.2)
            return [GenResult(m[-1]["content"], 1, 1) for m in batch]

    class Job:
        def __init__(self, i):
            self.model, self.params = "local/tiny", {"max_tokens": 2}
            self.messages = [{"role": "user", "content": f"q{i}"}]

    local.set_backend(Slow())
    try:
        cfg = Config(timeout=0.3, max_retries=0)
        batcher = local.batcher_for("tiny")
        batcher.max_batch = 2  # 8 calls: 4 batches of 0.2 s, the last waits ~0.6 s in the queue
        got = await asyncio.gather(*[call_with_retries(cfg, Job(i), []) for i in range(8)])
    finally:
        local.set_backend(None)
    assert [err for _, err in got] == [None] * 8
    assert [r["text"] for r, _ in got] == [f"q{i}" for i in range(8)]
    assert Slow.batches >= 4  # so the last call waited at least 3 × 0.2 s in the queue, past the 0.3 s timeout
