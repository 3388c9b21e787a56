"""Loading a local model with transformers (and an adapter with peft).

torch, transformers and peft are imported on the first load, with the collector paused; names are
resolved first, so a wrong name fails without importing them.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

from .._util.lazy import collector_paused
from ..errors import ModelError
from .resolve import resolve_adapter, resolve_base

__all__ = ["load", "quiet_peft", "set_pad_token"]


def load(base: str, adapter: str | None = None, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) for a base name (see :func:`.resolve.resolve_base`: ``smollm2``, a
    ``.gguf`` file or a HF folder, without ``local/``) and an optional adapter (a folder path or a
    job id, see :func:`.resolve.resolve_adapter`).

    The model is in eval mode; ``dtype`` (a torch dtype) is passed to transformers when given,
    else transformers picks. The tokenizer pads on the left, as batched generation needs, and has
    a pad token (:func:`set_pad_token`). A fresh base is loaded per call: peft injects its layers
    into the base model in place."""
    folder, gguf = resolve_base(base)
    adapter_dir = resolve_adapter(adapter) if adapter else None
    try:
        with collector_paused():
            import torch  # noqa: F401
            from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise ModelError("local models need torch and transformers",
                         hint="pip install 'promptops[local]' (torch==2.13.0)") from None
    kw: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
    tokenizer = AutoTokenizer.from_pretrained(folder, **kw)
    if dtype is not None:
        kw["dtype"] = dtype
    model = AutoModelForCausalLM.from_pretrained(folder, **kw)
    if adapter_dir is not None:
        with collector_paused():
            from peft import PeftModel

        with quiet_peft():
            model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    tokenizer.padding_side = "left"
    set_pad_token(tokenizer)
    return model, tokenizer


def set_pad_token(tokenizer: Any) -> Any:
    """Give a tokenizer without a pad token its end token as one (or, lacking that, its unknown
    token): padding a batch needs one, and the attention mask hides it."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """Around peft wrapping a model: peft probes ``is_gradient_checkpointing``, which transformers 5
    deprecates with a FutureWarning on every load; that one warning is dropped, nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield
