"""The local/ provider: the batching queue (fast, no torch) and the real embedded model (slow)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest

from promptops.providers.batching import Batcher, GenResult, GenSettings, settings_from_params

# ----------------------------------------------------------------------------- batching (no torch)


class Recorder:
    """A fake generate: records each batch, answers the last user message upper-cased."""

    def __init__(self, delay: float = 0.0, fail: bool = False):
        self.batches: list[tuple[GenSettings, list[str]]] = []
        self.delay = delay
        self.fail = fail
        self.threads: set[str] = set()

    def __call__(self, batch, settings):
        self.threads.add(threading.current_thread().name)
        self.batches.append((settings, [m[-1]["content"] for m in batch]))
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("generate failed")
        return [GenResult(m[-1]["content"].upper(), 3, 2) for m in batch]


def msgs(text):
    return [{"role": "user", "content": text}]


async def test_requests_arriving_together_form_batches_of_at_most_max():
    rec = Recorder()
    b = Batcher(rec, max_batch=32)
    out = await asyncio.gather(*[b.submit(msgs(f"q{i}"), GenSettings()) for i in range(40)])
    assert [r.text for r in out] == [f"Q{i}" for i in range(40)]
    assert [len(x) for _, x in rec.batches] == [32, 8]
    assert threading.main_thread().name not in rec.threads  # generate ran in a worker thread


async def test_incompatible_settings_are_separate_batches():
    rec = Recorder()
    b = Batcher(rec)
    greedy, hot = GenSettings(), GenSettings(temperature=0.7, seed=1)
    await asyncio.gather(*[b.submit(msgs(f"q{i}"), greedy if i % 2 else hot) for i in range(10)])
    assert sorted((s.temperature, len(x)) for s, x in rec.batches) == [(0.0, 5), (0.7, 5)]


async def test_requests_during_a_batch_form_the_next_batch():
    rec = Recorder(delay=0.2)
    b = Batcher(rec)
    first = asyncio.ensure_future(b.submit(msgs("a"), GenSettings()))
    await asyncio.sleep(0.05)  # the first batch is generating now
    loop_alive = time.perf_counter()
    rest = [asyncio.ensure_future(b.submit(msgs(f"b{i}"), GenSettings())) for i in range(5)]
    await asyncio.sleep(0.01)
    assert time.perf_counter() - loop_alive < 0.1  # the event loop was not blocked by generate
    await asyncio.gather(first, *rest)
    assert [x for _, x in rec.batches] == [["a"], [f"b{i}" for i in range(5)]]


async def test_each_answer_says_how_long_it_waited_for_its_batch():
    rec = Recorder(delay=0.3)
    b = Batcher(rec, collect_s=0)
    first = asyncio.ensure_future(b.submit(msgs("a"), GenSettings()))
    await asyncio.sleep(0.05)  # the first batch is generating now; the next request queues behind it
    second = await b.submit(msgs("b"), GenSettings(), stop=("zz",))
    done = await first
    assert done.queue_ms is not None and done.queue_ms < 250  # its batch started at once
    assert second.queue_ms is not None and second.queue_ms >= 200  # it waited for the first batch (~250 ms)


def test_a_local_model_gets_at_least_the_local_timeout_unless_its_own_is_set():
    from promptops.config import Config
    from promptops.providers.litellm import call_kwargs

    config = Config.from_dict({"timeout": 30, "models": {"local/fast": {"timeout": 5}}})
    assert call_kwargs("local/smollm2", {}, config)[1]["timeout"] == 600  # a batch on a busy CPU takes minutes
    assert call_kwargs("local/fast", {}, config)[1]["timeout"] == 5  # set for the model: kept
    assert call_kwargs("openai/gpt-4o-mini", {}, config)[1]["timeout"] == 30  # API models: the config's
    assert call_kwargs("local/smollm2", {}, Config.from_dict({"timeout": 900}))[1]["timeout"] == 900


async def test_stop_strings_cut_each_answer():
    b = Batcher(Recorder())
    got = await b.submit(msgs("hello. world"), GenSettings(), stop=(".", "zz"))
    assert got.text == "HELLO"
    assert (await b.submit(msgs("abc"), GenSettings(), stop=("zz",))).text == "ABC"


async def test_errors_reach_every_caller_and_the_batcher_recovers():
    rec = Recorder(fail=True)
    b = Batcher(rec)
    results = await asyncio.gather(*[b.submit(msgs("x"), GenSettings()) for _ in range(3)],
                                   return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    rec.fail = False
    assert (await b.submit(msgs("ok"), GenSettings())).text == "OK"


async def test_cancelled_callers_are_skipped():
    rec = Recorder()
    b = Batcher(rec, collect_s=0.05)
    gone = asyncio.ensure_future(b.submit(msgs("gone"), GenSettings()))
    kept = asyncio.ensure_future(b.submit(msgs("kept"), GenSettings()))
    await asyncio.sleep(0)
    gone.cancel()
    assert (await kept).text == "KEPT"
    assert [x for _, x in rec.batches] == [["kept"]]


async def test_the_timeout_bounds_generation_not_the_wait_in_the_queue():
    """Under load a request waits behind earlier batches far longer than its timeout; it must still
    be answered (the demo's busy server lost 73 of 350 requests to timeouts spent queueing)."""
    rec = Recorder(delay=0.15)
    b = Batcher(rec, max_batch=1, collect_s=0)
    out = await asyncio.gather(*[b.submit(msgs(f"q{i}"), GenSettings(), timeout=0.5) for i in range(6)])
    assert [r.text for r in out] == [f"Q{i}" for i in range(6)]  # the last waited ~0.75 s
    assert len(rec.batches) == 6


async def test_a_generation_longer_than_the_timeout_times_out_and_the_queue_goes_on():
    rec = Recorder(delay=0.3)
    b = Batcher(rec, collect_s=0)
    with pytest.raises(asyncio.TimeoutError):
        await b.submit(msgs("slow"), GenSettings(), timeout=0.05)
    rec.delay = 0.0
    assert (await b.submit(msgs("next"), GenSettings(), timeout=1.0)).text == "NEXT"


def test_settings_from_params():
    s, stop = settings_from_params({"temperature": 0, "max_tokens": 5, "stop": "\n", "seed": 3})
    assert s == GenSettings(temperature=0.0, max_tokens=5, seed=None)  # seed is moot when greedy
    assert stop == ("\n",)
    s, stop = settings_from_params({"temperature": 0.5, "seed": 3, "top_p": 0.9})
    assert s == GenSettings(temperature=0.5, max_tokens=64, top_p=0.9, seed=3) and stop == ()


def test_adapter_ids_resolve_under_adapter_dirs(tmp_path, monkeypatch):
    from promptops.errors import ModelError
    from promptops.localmodels import resolve

    (tmp_path / "job-1").mkdir()
    assert resolve.resolve_adapter("job-1", [tmp_path]) == (tmp_path / "job-1").resolve()
    assert resolve.resolve_adapter(str(tmp_path / "job-1"), [tmp_path]) == (tmp_path / "job-1").resolve()
    with pytest.raises(ModelError):
        resolve.resolve_adapter("job-2", [tmp_path])
    # complete(config=...) hands the handler the folder, found under the config's adapter_dirs
    assert resolve.with_adapter_path("local/smollm2+job-1", [tmp_path]) == f"local/smollm2+{(tmp_path / 'job-1').resolve()}"
    assert resolve.with_adapter_path("local/smollm2+job-2", [tmp_path]) == "local/smollm2+job-2"
    assert resolve.with_adapter_path("local/smollm2", [tmp_path]) == "local/smollm2"
    monkeypatch.setenv("PROMPTOPS_ROOT", str(tmp_path))
    (tmp_path / ".promptops" / "adapters" / "job-3").mkdir(parents=True)
    assert resolve.resolve_adapter("job-3") == (tmp_path / ".promptops" / "adapters" / "job-3").resolve()


def test_base_names_resolve(tmp_path):
    from promptops.errors import ModelError
    from promptops.localmodels import resolve_base

    (tmp_path / "hf").mkdir()
    (tmp_path / "m.gguf").write_bytes(b"")
    assert resolve_base(str(tmp_path / "hf")) == ((tmp_path / "hf").resolve(), None)
    assert resolve_base(str(tmp_path / "m.gguf")) == (tmp_path.resolve(), "m.gguf")
    with pytest.raises(ModelError, match="not found"):
        resolve_base(str(tmp_path / "nothing"))


def test_a_wrong_name_fails_before_torch_is_imported(tmp_path):
    code = ("import sys; from promptops.localmodels import load; from promptops.errors import ModelError\n"
            f"try: load({str(tmp_path / 'nothing')!r})\n"
            "except ModelError: pass\n"
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- loading and generating (tiny model)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A tiny random Llama and a character-level ChatML tokenizer without a pad token, saved as an
    HF folder: loads in well under a second, offline."""
    torch = pytest.importorskip("torch")
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>"]
    vocab = {t: i for i, t in enumerate(specials + [chr(i) for i in range(32, 127)] + ["\n"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", eos_token="<|im_end|>",
                                  additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    tok.chat_template = ("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + "
                         "'<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\n'}}"
                         "{% endif %}")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      initializer_range=0.2, eos_token_id=vocab["<|im_end|>"])
    folder = tmp_path_factory.mktemp("tiny")
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_load_prepares_the_tokenizer_for_batches(tiny_folder):
    torch = pytest.importorskip("torch")
    from promptops.localmodels import load

    model, tok = load(str(tiny_folder), dtype=torch.float32)
    assert not model.training
    assert tok.padding_side == "left"
    assert tok.pad_token == tok.eos_token == "<|im_end|>"
    assert next(model.parameters()).dtype == torch.float32


def test_tiny_batched_greedy_equals_one_by_one(tiny_folder):
    pytest.importorskip("torch")
    from promptops.localmodels import generate, greedy, load

    model, tok = load(str(tiny_folder))
    prompts = [msgs("a"), msgs("a much longer question"), msgs("mid size"), [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "x"}]]
    batched = generate(model, tok, prompts, max_new_tokens=8)
    single = [generate(model, tok, [p], max_new_tokens=8)[0] for p in prompts]
    assert batched == single
    texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    assert [g.prompt_tokens for g in batched] == [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert all(g.finish_reason in ("stop", "length") and g.completion_tokens <= 8 for g in batched)
    assert greedy(model, tok, prompts, max_new_tokens=8, batch_size=3) == [g.text for g in single]


def test_tiny_sampling_with_seed_is_reproducible(tiny_folder):
    pytest.importorskip("torch")
    from promptops.localmodels import generate, load

    model, tok = load(str(tiny_folder))
    kw = {"max_new_tokens": 12, "temperature": 1.0, "top_p": 0.9, "seed": 3}
    assert generate(model, tok, [msgs("hi")], **kw) == generate(model, tok, [msgs("hi")], **kw)


def test_adapter_loads_by_job_id(tiny_folder, tmp_path, monkeypatch):
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from promptops.localmodels import generate, load

    cfg = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=True)
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_folder), cfg).save_pretrained(
        tmp_path / ".promptops" / "adapters" / "job-9")
    monkeypatch.setenv("PROMPTOPS_ROOT", str(tmp_path))  # the project's adapter folder, found from the env
    plain, tok = load(str(tiny_folder))
    tuned, _ = load(str(tiny_folder), "job-9")
    assert type(tuned).__name__.startswith("Peft") and not tuned.training
    q = [msgs("what is it")]
    assert generate(tuned, tok, q, max_new_tokens=6) == generate(plain, tok, q, max_new_tokens=6)  # B = 0


# ----------------------------------------------------------------------------- the real model

PROMPTS = ["What is the capital of France?", "Say hello.", "Name a color.", "What is 2 + 2?",
           "Write one word about the sea.", "Is the sky blue? Answer yes or no."]


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("torch")
    from promptops.providers import local

    local.set_backend(None)
    b = local.get_backend()
    b.load("smollm2")
    return b


@pytest.mark.slow
async def test_embedded_model_answers_through_complete(backend):
    from promptops.providers import complete

    got = await complete("local/smollm2", msgs("What is the capital of France?"), {"max_tokens": 20})
    assert "paris" in got.text.lower()
    assert got.prompt_tokens > 5 and 0 < got.completion_tokens <= 20
    assert got.cost_usd == 0.0


@pytest.mark.slow
def test_batched_greedy_equals_one_by_one(backend):
    settings = GenSettings(max_tokens=16)
    prompts = PROMPTS[:4]  # different lengths, so the batch is left-padded
    batched = backend.generate("smollm2", [msgs(p) for p in prompts], settings)
    single = [backend.generate("smollm2", [msgs(p)], settings)[0] for p in prompts]
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.completion_tokens for r in batched] == [r.completion_tokens for r in single]
    assert [r.prompt_tokens for r in batched] == [r.prompt_tokens for r in single]


@pytest.mark.slow
async def test_max_tokens_and_stop_are_honoured(backend):
    from promptops.providers import complete

    long = await complete("local/smollm2", msgs("Write a long story about a cat."), {"max_tokens": 5})
    assert long.completion_tokens == 5
    words = long.text.split()
    assert len(words) >= 2
    stop = words[1]
    cut = await complete("local/smollm2", msgs("Write a long story about a cat."),
                         {"max_tokens": 5, "stop": [stop]})
    assert cut.text == long.text[:long.text.find(stop)]


@pytest.mark.slow
async def test_sampling_with_seed_is_reproducible(backend):
    from promptops.providers import complete

    params = {"temperature": 1.0, "seed": 7, "max_tokens": 12}
    a = await complete("local/smollm2", msgs("Tell me a fun fact."), params)
    b = await complete("local/smollm2", msgs("Tell me a fun fact."), params)
    assert a.text == b.text


@pytest.mark.slow
async def test_adapter_loads_through_plus_suffix(backend, tmp_path, monkeypatch):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from promptops.localmodels import smollm2_gguf
    from promptops.providers import complete

    gguf = smollm2_gguf()
    base = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=True)
    get_peft_model(base, cfg).save_pretrained(tmp_path / ".promptops" / "adapters" / "job-1")
    monkeypatch.setenv("PROMPTOPS_ROOT", str(tmp_path))  # no config passed: the project found from the env

    q = msgs("What is the capital of France?")
    plain = await complete("local/smollm2", q, {"max_tokens": 12})
    tuned = await complete("local/smollm2+job-1", q, {"max_tokens": 12})
    assert tuned.text == plain.text  # a fresh LoRA (B = 0) leaves the outputs unchanged
    assert type(backend.load("smollm2+job-1").model).__name__.startswith("Peft")
    by_path = await complete(f"local/smollm2+{tmp_path / '.promptops' / 'adapters' / 'job-1'}", q, {"max_tokens": 12})
    assert by_path.text == plain.text
