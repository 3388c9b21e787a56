"""The ``local/`` provider: on-machine models through a litellm ``CustomLLM``.

Model names (the part after ``local/``):

- ``smollm2``: the embedded SmolLM2-135M-Instruct GGUF (:func:`promptops.embedded.smollm2_gguf`);
- ``<path>``: a Hugging Face model folder or a ``.gguf`` file;
- ``<base>+<adapter>``: a peft (LoRA) adapter on a base; the adapter is a folder path or an id
  found under the config's ``adapter_dirs`` (``<state_dir>/adapters/<id>``): :func:`complete`
  passes its config's, a call without a config uses the project found from the working directory.

Requests that arrive together (collected for :data:`COLLECT_S` seconds, up to :data:`MAX_BATCH`)
with the same generation settings become one left-padded ``generate`` call, run in a worker thread
so the event loop keeps serving. Greedy (``temperature`` 0, the default) batched answers equal
one-by-one answers. With ``temperature`` > 0 and a ``seed``, ``torch.manual_seed(seed)`` is set per
batch, so sampling is reproducible for the same batch composition only (the same requests arriving
together); it is not per request. Models load once per process and stay loaded.

torch, transformers and peft are imported only when a model is first loaded.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Protocol

import litellm
from litellm import CustomLLM
from litellm.types.utils import ModelResponse

from ..errors import ModelError
from .batching import DEFAULT_MAX_TOKENS, Batcher, GenResult, GenSettings, settings_from_params

__all__ = ["LocalHandler", "TorchBackend", "Backend", "set_backend", "get_backend",
           "batcher_for", "resolve_adapter", "resolve_base", "with_adapter_path", "DEFAULT_MAX_TOKENS"]


class Backend(Protocol):
    """Generates answers for a batch of chat requests; called in a worker thread."""

    def generate(self, model: str, batch: list[list[dict]], settings: GenSettings) -> list[GenResult]: ...


# --------------------------------------------------------------------------- torch backend

def adapter_roots(dirs: list[Path] | None = None) -> list[Path]:
    """Where adapter ids are looked up: ``dirs`` (a config's ``adapter_dirs``), else those of the
    project found from the working directory (or ``PROMPTOPS_ROOT``)."""
    from ..config import Config, find_root, load_config

    if dirs is not None:
        return [Path(p) for p in dirs]
    try:
        return load_config().adapter_dirs
    except Exception:  # noqa: BLE001 - a broken promptops.yaml should not hide an adapter path
        config = Config()
        config.root = find_root()
        return config.adapter_dirs


def resolve_adapter(spec: str, dirs: list[Path] | None = None) -> Path:
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve()
    roots = adapter_roots(dirs)
    for root in roots:
        if (root / spec).is_dir():
            return (root / spec).resolve()
    raise ModelError(f"adapter {spec!r} not found",
                     hint="give a folder path, or a job id under " + ", ".join(map(str, roots)))


def with_adapter_path(target: str, dirs: list[Path]) -> str:
    """``local/<base>+<id>`` with the adapter id replaced by its folder under ``dirs``, when there
    is one; else ``target`` unchanged (the handler then reports the adapter missing)."""
    base, plus, adapter = target.partition("+")
    if not plus or Path(adapter).expanduser().is_dir():
        return target
    for root in dirs:
        if (Path(root) / adapter).is_dir():
            return f"{base}+{(Path(root) / adapter).resolve()}"
    return target


def resolve_base(spec: str) -> tuple[Path, str | None]:
    """(folder, gguf file name or None) for a base model name."""
    from ..embedded import EMBEDDED_NAME, smollm2_gguf

    if spec == EMBEDDED_NAME:
        gguf = smollm2_gguf()
        return gguf.parent, gguf.name
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.resolve().parent, path.name
    if path.is_dir():
        return path.resolve(), None
    raise ModelError(f"local model {spec!r} not found",
                     hint="use local/smollm2, local/<HF model folder or .gguf file>[+<adapter>]")


class _Loaded:
    def __init__(self, model: Any, tokenizer: Any):
        self.model = model
        self.tokenizer = tokenizer
        self.lock = threading.Lock()


class TorchBackend:
    """transformers (+ peft) models, loaded once per process and cached by name."""

    def __init__(self) -> None:
        self._models: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def load(self, name: str) -> _Loaded:
        with self._lock:
            loaded = self._models.get(name)
            if loaded is None:
                loaded = self._models[name] = self._load(name)
            return loaded

    @staticmethod
    def _load(name: str) -> _Loaded:
        base, _, adapter = name.partition("+")
        folder, gguf = resolve_base(base)  # bad names fail before torch is imported
        adapter_dir = resolve_adapter(adapter) if adapter else None
        from .._util.lazy import collector_paused

        try:
            with collector_paused():
                import torch  # noqa: F401
                from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise ModelError("local models need torch and transformers",
                             hint="pip install 'promptops[local]' (torch==2.13.0)") from None
        kw = {"gguf_file": gguf} if gguf else {}
        tokenizer = AutoTokenizer.from_pretrained(folder, **kw)
        model = AutoModelForCausalLM.from_pretrained(folder, **kw)
        if adapter_dir is not None:
            with collector_paused():
                from peft import PeftModel

            # a fresh base per adapter: peft injects its layers into the base model in place
            model = PeftModel.from_pretrained(model, str(adapter_dir))
        model.eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        return _Loaded(model, tokenizer)

    def generate(self, model: str, batch: list[list[dict]], settings: GenSettings) -> list[GenResult]:
        import torch

        loaded = self.load(model)
        tok = loaded.tokenizer
        texts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in batch]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        gen_kw: dict[str, Any] = {"max_new_tokens": settings.max_tokens, "pad_token_id": tok.pad_token_id}
        if settings.temperature > 0:
            gen_kw.update(do_sample=True, temperature=settings.temperature)
            if settings.top_p is not None:
                gen_kw["top_p"] = settings.top_p
        else:
            gen_kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with loaded.lock, torch.inference_mode():
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            out = loaded.model.generate(**enc, **gen_kw)
        eos = _eos_ids(loaded.model, tok)
        width = enc["input_ids"].shape[1]
        results = []
        for row, mask in zip(out, enc["attention_mask"]):
            gen = row[width:].tolist()
            n = next((i + 1 for i, t in enumerate(gen) if t in eos), None)
            finish = "stop" if n is not None else "length"
            gen = gen[:n] if n is not None else gen
            text = tok.decode(gen, skip_special_tokens=True)
            results.append(GenResult(text.strip(), int(mask.sum()), len(gen), finish))
        return results


def _eos_ids(model: Any, tok: Any) -> set[int]:
    ids = model.generation_config.eos_token_id
    if ids is None:
        ids = tok.eos_token_id
    ids = set(ids) if isinstance(ids, (list, tuple)) else {ids}
    ids.discard(None)
    return ids


_BACKEND: Backend | None = None


def get_backend() -> Backend:
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = TorchBackend()
    return _BACKEND


def set_backend(backend: Backend | None) -> None:
    """Replace the generation backend (tests inject a fake one; None restores torch)."""
    global _BACKEND
    _BACKEND = backend
    _HANDLER_BATCHERS.clear()


# --------------------------------------------------------------------------- litellm handler

_HANDLER_BATCHERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batcher_for(model: str) -> Batcher:
    """The batcher of ``model`` on the running event loop."""
    loop = asyncio.get_running_loop()
    per_loop = _HANDLER_BATCHERS.get(loop)
    if per_loop is None:
        per_loop = _HANDLER_BATCHERS[loop] = {}
    batcher = per_loop.get(model)
    if batcher is None:
        backend = get_backend()
        batcher = per_loop[model] = Batcher(lambda batch, s: backend.generate(model, batch, s))
    return batcher


class LocalHandler(CustomLLM):
    """litellm custom provider ``local``: ``litellm.acompletion(model="local/<name>")``."""

    async def acompletion(self, model: str, messages: list, api_base: Any, custom_prompt_dict: Any,
                          model_response: ModelResponse, print_verbose: Any, encoding: Any, api_key: Any,
                          logging_obj: Any, optional_params: dict, acompletion: Any = None,
                          litellm_params: Any = None, logger_fn: Any = None, headers: Any = None,
                          timeout: Any = None, client: Any = None) -> ModelResponse:
        settings, stop = settings_from_params(optional_params or {})
        start = time.perf_counter()
        try:
            result = await batcher_for(model).submit(list(messages), settings, stop)
        except ModelError as exc:
            raise litellm.NotFoundError(message=exc.one_line(), model=model, llm_provider="local") from None
        model_response.choices[0].message.content = result.text  # type: ignore[union-attr]
        model_response.choices[0].finish_reason = result.finish_reason
        model_response.model = f"local/{model}"
        model_response.usage = litellm.Usage(  # type: ignore[attr-defined]
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
            total_tokens=result.prompt_tokens + result.completion_tokens)
        model_response._hidden_params["response_cost"] = 0.0
        model_response._hidden_params["local_generate_ms"] = (time.perf_counter() - start) * 1000
        return model_response

    def completion(self, *args: Any, **kwargs: Any) -> ModelResponse:
        """Synchronous ``litellm.completion``: runs the async path on a private loop."""
        return asyncio.run(self.acompletion(*args, **kwargs))
