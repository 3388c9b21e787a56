#!/usr/bin/env bash
# One command: set up .venv/ and run the test suite (slow tests: pass -m slow).
# PostgreSQL tests run when PROMPTOPS_TEST_POSTGRES_URL is set (.ci/run starts a server and sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True
exec .venv/bin/python -m pytest -q "$@"
