"""The embedded default model (SmolLM2-135M-Instruct as a GGUF file): kept for its importers;
the code is in :mod:`promptops.localmodels.resolve`."""

from .localmodels.resolve import EMBEDDED_NAME, GGUF_FILE, smollm2_gguf

__all__ = ["EMBEDDED_NAME", "GGUF_FILE", "smollm2_gguf"]
