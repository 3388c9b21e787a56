"""The demo's scratch project: a git repository of its own with the suite, the traffic set and
four versions of the snips-intent prompt committed over time.

The data ships with the package (``promptops/demo/data``, see its ATTRIBUTION.md), so the demo
needs no checkout of the promptops repository.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import git

from ..errors import PromptopsError

INTENTS = ["AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic", "RateBook",
           "SearchCreativeWork", "SearchScreeningEvent"]
# target 0.95: in fresh-clone runs of 2026-12-02, dynamic few-shot over the logged traffic (`optimize`)
# reached 82.9% [75.8–88.2] (target 0.8: met, no switch) and 85.7% [79.0–90.6] (target 0.9: within
# the interval, "improving", no switch); the demo's scenario asks for more than prompting gives.
# The production gate stays at 0.8 (promptops.yaml).
_FRONT = """---
name: snips-intent
description: Classify a voice-assistant request into one of seven intents.
model: local/smollm2
params: {{temperature: 0, max_tokens: 8}}
input:
  text: string
suite: datasets/snips-intent
target: 0.95
labels: [{labels}]
assert:
  - type: iequals
    value: "{{{{ expected }}}}"
---
"""
_LIST = ", ".join(INTENTS)
VERSIONS = [
    ("Zero-shot: ask for the intent", "system:\nClassify the user's request into one intent.\nuser:\n{{ text }}\n"),
    ("Few-shot examples, one per intent",
     f"system:\nClassify the request into one of: {_LIST}. Reply with the intent name only.\n"
     "user:\nadd this song to my workout playlist\nassistant:\nAddToPlaylist\n"
     "user:\nbook a table for two at an italian place tonight\nassistant:\nBookRestaurant\n"
     "user:\nwill it rain in paris tomorrow\nassistant:\nGetWeather\n"
     "user:\nplay some jazz by miles davis\nassistant:\nPlayMusic\n"
     "user:\nrate this novel four out of 5\nassistant:\nRateBook\n"
     "user:\nfind the tv series called lost\nassistant:\nSearchCreativeWork\n"
     "user:\nwhat movies are playing at the cinema nearby\nassistant:\nSearchScreeningEvent\n"
     "user:\n{{ text }}\n"),
    ("List the intents and ask for the name only",
     f"system:\nClassify the request into exactly one of these intents: {_LIST}.\n"
     "Answer with the intent name only.\nuser:\n{{ text }}\n"),
    ("Describe each intent",
     "system:\nYou route voice-assistant requests. The intents are:\n"
     "- AddToPlaylist: add a song or artist to a playlist\n- BookRestaurant: reserve a table\n"
     "- GetWeather: ask about the weather\n- PlayMusic: play a song, artist or album\n"
     "- RateBook: give a rating to a book\n- SearchCreativeWork: find a book, film, show, song or game\n"
     "- SearchScreeningEvent: find movie showtimes or cinemas\n"
     "Reply with the intent name only, exactly as written above.\nuser:\n{{ text }}\n"),
]
CONFIG = """default_model: local/smollm2
concurrency: 64
environments:
  production: {min_score: 0.8}
escalate:
  window: 2          # plateaued: the last 2 versions did not raise the best by more than delta
  delta: 0.02
"""
# The version the fine-tune renders its examples with: a short prompt that names the label set
# (the few-shot prompt is four times longer, and the adapter learns the examples' job anyway).
FINETUNE_VERSION = 2


DATA = files(__package__).joinpath("data")  # packaged: snips-intent/, traffic/, ATTRIBUTION.md


def prompt_text(body: str) -> str:
    """The .prompt file of one version: the shared front matter, then ``body``."""
    return _FRONT.format(labels=", ".join(INTENTS)) + body


def build_project(workdir: Path, *, cases: int | None = None) -> list[str]:
    """A fresh scratch repository at ``workdir`` with the suite and the prompt committed in several
    versions; returns the commits, oldest first. ``cases``: keep about this many suite cases.

    A folder left by an earlier demo is replaced; any other non-empty folder is refused."""
    workdir = Path(workdir)
    if workdir.exists():
        _check_replaceable(workdir)
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    # first, so a run stopped half-way still leaves a folder the next run recognises as its own
    (workdir / "promptops.yaml").write_text(CONFIG, encoding="utf-8")
    (workdir / "prompts").mkdir()
    _copy(DATA, workdir / "datasets")
    if cases:
        path = workdir / "datasets" / "snips-intent" / "cases.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        per_intent = max(1, cases // len(INTENTS))
        kept = [line for i, line in enumerate(lines) if i % 20 < per_intent]  # the file holds 20 per intent, in order
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    (workdir / ".gitignore").write_text(".promptops/\n", encoding="utf-8")
    repo = git.Repo.init(workdir, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Demo Engineer")
        cw.set_value("user", "email", "demo@promptops.invalid")
    shas = []
    for message, body in VERSIONS:
        (workdir / "prompts" / "snips-intent.prompt").write_text(prompt_text(body), encoding="utf-8")
        repo.git.add(A=True)
        repo.index.commit(message)
        shas.append(repo.head.commit.hexsha)
    return shas


def _check_replaceable(workdir: Path) -> None:
    if not workdir.is_dir():
        raise PromptopsError(f"{workdir} exists and is not a folder", hint="pick another --workdir")
    marker = workdir / "promptops.yaml"
    if any(workdir.iterdir()) and not (marker.is_file() and marker.read_text(encoding="utf-8") == CONFIG):
        raise PromptopsError(f"{workdir} is not empty and was not made by the demo; it would be deleted",
                             hint="pick another --workdir, or remove that folder yourself")


def _copy(src: Traversable, dest: Path) -> None:
    """Copy a packaged folder through importlib.resources (works from a wheel or a zip alike)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.name.startswith((".", "__")):
            continue
        if item.is_dir():
            _copy(item, dest / item.name)
        else:
            (dest / item.name).write_bytes(item.read_bytes())
