#!/usr/bin/env bash
# One command for a new user: set up .venv/ and run the demo of the whole loop on the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True
exec .venv/bin/promptops demo "$@"
