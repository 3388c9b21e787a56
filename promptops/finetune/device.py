"""Where the trainer runs: the device (CUDA, MPS, CPU), the precision and gradient checkpointing.

``device: auto`` picks CUDA when torch sees a GPU, else Apple's MPS, else the CPU; ``precision: auto``
is bf16 on a CUDA GPU that supports it and float32 everywhere else (the CPU path is what it always
was: float32, no autocast). ``gradient_checkpointing`` trades compute for activation memory on large
bases. A machine with fewer GPUs than a job asks for refuses it before loading anything
(:func:`promptops.finetune.shared_artifacts.check_gpus`); a job with several GPUs (or processes)
trains data-parallel under accelerate launch, one process per GPU (:mod:`.distributed`), which has run with
gloo on the CPU only. None of these GPU paths has run on a GPU yet (none was available where this
was written). Import-light: torch is imported inside the functions.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def cuda_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def pick_device(want: str = "auto") -> str:
    """``cuda``, ``mps`` or ``cpu`` for ``want`` (``auto``: the best there is); a ConfigError when the
    asked-for device is missing."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    has = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available())}
    if want == "auto":
        return "cuda" if has["cuda"] else "mps" if has["mps"] else "cpu"
    if not has.get(want):
        raise ConfigError(f"fine-tune setting device={want!r}: this machine has no {want} device",
                          hint="use device=auto (CUDA, then MPS, then the CPU) or device=cpu")
    return want


def pick_dtype(device: str, precision: str = "auto") -> Any:
    """The torch dtype of the training compute: bf16 where the GPU supports it (``auto``), else float32."""
    import torch

    if precision == "fp32" or (precision == "auto" and device != "cuda"):
        return torch.float32
    if precision == "fp16":
        return torch.float16
    if device == "cuda" and not torch.cuda.is_bf16_supported():
        if precision == "bf16":
            raise ConfigError("fine-tune setting precision='bf16': this GPU does not support bf16",
                              hint="use precision=auto or fp16")
        return torch.float32
    if device == "cpu" and precision == "auto":
        return torch.float32
    return torch.bfloat16


def place(model: Any, config: Any) -> tuple[Any, str, Any]:
    """Move ``model`` to the chosen device, turn on gradient checkpointing when asked; returns
    (model, device, autocast dtype). The weights stay float32 (the LoRA weights train in float32);
    the forward pass runs under autocast in the chosen dtype."""
    device = pick_device(getattr(config, "device", "auto"))
    dtype = pick_dtype(device, getattr(config, "precision", "auto"))
    if getattr(config, "gradient_checkpointing", False) and hasattr(model, "gradient_checkpointing_enable"):
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5's name; the old one warns
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()  # LoRA: the frozen embeddings must still pass gradients on
        if hasattr(model, "config"):
            model.config.use_cache = False
    if device != "cpu":
        model = model.to(device)
    return model, device, dtype


def autocast(device: str, dtype: Any) -> Any:
    """The autocast context of a forward pass (nothing on the CPU in float32: the unchanged path)."""
    import torch

    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=dtype)
