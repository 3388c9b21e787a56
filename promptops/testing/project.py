"""A real temporary promptops project for tests: a git repository with promptops.yaml,
``prompts/capital.prompt`` and a suite of capitals, its models served by :class:`FakeOpenAI`.

The ``git_project`` fixture of :mod:`promptops.testing.pytest_plugin` builds one with
:func:`make_project`; the functions are here so that a test can build others (more models, a few
countries, a key in the environment) and answer them with :func:`capital_rules`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

CAPITALS = {"France": "Paris", "Spain": "Madrid", "Italy": "Rome", "Germany": "Berlin", "Japan": "Tokyo",
            "Canada": "Ottawa", "Egypt": "Cairo", "Peru": "Lima", "Kenya": "Nairobi", "Norway": "Oslo",
            "Chile": "Santiago", "Cuba": "Havana", "Ghana": "Accra", "Iran": "Tehran", "Iraq": "Baghdad",
            "Nepal": "Kathmandu", "Oman": "Muscat", "Poland": "Warsaw", "Qatar": "Doha", "Sweden": "Stockholm"}

PROMPT = """---
name: capital
description: Name the capital city of a country.
models: [{models}]
params: {{temperature: 0, max_tokens: 10}}
input: {{country: string}}
suite: datasets/capital
target: {target}
assert:
  - type: iequals
    value: "{{{{ expected }}}}"
---
system:
{system}
user:
What is the capital of {{{{ country }}}}?
"""


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; its stdout, stripped."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def write_prompt(root: Path, *, system: str = "Answer with the city name only.", models: Iterable[str] = ("fake/a",),
                 target: float = 0.8, name: str = "capital") -> None:
    """Write ``prompts/<name>.prompt``: the capital prompt with this system message, models and target."""
    text = PROMPT.format(models=", ".join(models), target=target, system=system).replace("name: capital", f"name: {name}")
    (root / "prompts" / f"{name}.prompt").write_text(text)


def make_project(root: Path, base_url: str, *, models: Iterable[str] = ("fake/a",),
                 countries: Iterable[str] | None = None, key_env: str | None = None,
                 extra_config: dict | None = None, commit: bool = True) -> Path:
    """A git repository with promptops.yaml, prompts/capital.prompt and a suite of capitals.

    Each model ``vendor/x`` is ``openai/x`` at ``base_url``, with the API key taken from the
    variable ``key_env`` when given (a literal dummy key otherwise). ``commit=False`` leaves the
    files untracked, without ``git init``."""
    models = tuple(models)
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "datasets" / "capital").mkdir(parents=True, exist_ok=True)
    config = {"models": {m: {"model": f"openai/{m.split('/')[-1]}", "api_base": base_url} for m in models},
              "concurrency": 20, "max_retries": 3, "timeout": 5}
    for m in models:
        if key_env:
            config["models"][m]["api_key_env"] = key_env
        else:
            config["models"][m]["params"] = {"api_key": "not-a-secret"}
    config.update(extra_config or {})
    (root / "promptops.yaml").write_text(yaml.safe_dump(config))
    write_prompt(root, models=models)
    countries = list(countries or CAPITALS)
    lines = [json.dumps({"id": c.lower(), "vars": {"country": c}, "expected": CAPITALS[c]}) for c in countries]
    (root / "datasets" / "capital" / "cases.jsonl").write_text("\n".join(lines) + "\n")
    (root / ".gitignore").write_text(".promptops/\n")
    if commit:
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.email", "t@example.com")
        git(root, "config", "user.name", "Tester")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "capital prompt")
    return root


def capital_rules(wrong: Iterable[str] = frozenset()) -> Callable[[str, list], str | None]:
    """Fake-server answers: the right capital, except for countries in ``wrong`` ("Atlantis")."""
    wrong = frozenset(wrong)

    def answer(model: str, messages: list) -> str | None:
        text = messages[-1]["content"]
        for country, city in CAPITALS.items():
            if country in text:
                return "Atlantis" if country in wrong else city
        return None

    return answer
