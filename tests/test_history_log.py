"""promptops.history.log and the name-status parser of promptops.history.changes: pure parsers of
git output, table-driven on hand-written records in the exact shape git prints with ``-z``."""

from __future__ import annotations

from datetime import datetime

import pytest

from promptops.history.changes import parse_name_status
from promptops.history.log import LOG_FORMAT, parse_raw_log, relative

ZERO = "0" * 40


def sha(n: int) -> str:
    return f"{n:x}" * 40 if n < 16 else f"{n:040x}"


def blob(n: int) -> str:
    return f"b{n:039x}"


def record(commit: str, *raws: str, message: str = "msg", author: str = "Ann",
           date: str = "2024-01-02T12:00:00+02:00") -> str:
    """One record of ``git log --format=LOG_FORMAT --raw -z``: header NUL, newline, raw lines."""
    return "\x01" + "\x1f".join([commit, date, author, message]) + "\0" + ("\n" + "".join(raws) if raws else "")


def raw(status: str, old: str, new: str, *paths: str) -> str:
    """A raw diff line: ``:<mode> <mode> <old blob> <new blob> <status>`` NUL, then its paths."""
    modes = "000000 100644" if status == "A" else "100644 000000" if status == "D" else "100644 100644"
    return f":{modes} {old} {new} {status}\0" + "".join(p + "\0" for p in paths)


P = "prompts/greet.prompt"
CAFE = "prompts/my café.prompt"  # a space and a non-ASCII letter: -z leaves paths unquoted

LOG_CASES = [
    ("empty", "", P, "", []),
    ("edits", record(sha(2), raw("M", blob(1), blob(2), P)) + record(sha(1), raw("A", ZERO, blob(1), P)),
     P, "", [(sha(2), P, blob(2)), (sha(1), P, blob(1))]),
    ("rename: older commits carry the old path",
     record(sha(3), raw("R100", blob(2), blob(2), "prompts/old.prompt", P))
     + record(sha(2), raw("M", blob(1), blob(2), "prompts/old.prompt"))
     + record(sha(1), raw("A", ZERO, blob(1), "prompts/old.prompt")),
     P, "", [(sha(3), P, blob(2)), (sha(2), "prompts/old.prompt", blob(2)), (sha(1), "prompts/old.prompt", blob(1))]),
    ("rename from a name with a space and non-ASCII",
     record(sha(3), raw("R087", blob(2), blob(3), CAFE, "prompts/new.prompt"))
     + record(sha(2), raw("M", blob(1), blob(2), CAFE), message="edit café")
     + record(sha(1), raw("A", ZERO, blob(1), CAFE)),
     "prompts/new.prompt", "", [(sha(3), "prompts/new.prompt", blob(3)), (sha(2), CAFE, blob(2)), (sha(1), CAFE, blob(1))]),
    ("a merge without a raw line keeps the current path, blob to look up",
     record(sha(3)) + record(sha(2), raw("M", blob(1), blob(2), P)), P, "",
     [(sha(3), P, None), (sha(2), P, blob(2))]),
    ("a merge listed once per parent (-m) is kept once",
     record(sha(3), raw("M", blob(2), blob(3), P)) + record(sha(3), raw("M", blob(1), blob(3), P))
     + record(sha(1), raw("A", ZERO, blob(1), P)),
     P, "", [(sha(3), P, blob(3)), (sha(1), P, blob(1))]),
    ("a deletion is no version; the file re-added later is",
     record(sha(3), raw("A", ZERO, blob(2), P)) + record(sha(2), raw("D", blob(1), ZERO, P))
     + record(sha(1), raw("A", ZERO, blob(1), P)),
     P, "", [(sha(3), P, blob(2)), (sha(1), P, blob(1))]),
    ("an all-zero blob is skipped", record(sha(2), raw("M", blob(1), ZERO, P))
     + record(sha(1), raw("A", ZERO, blob(1), P)), P, "", [(sha(1), P, blob(1))]),
    ("only the first raw line of a commit counts",
     record(sha(1), raw("M", blob(1), blob(2), P), raw("M", blob(5), blob(6), "prompts/other.prompt")),
     P, "", [(sha(1), P, blob(2))]),
    ("paths relative to a prefix; a rename from outside it starts there",
     record(sha(2), raw("R100", blob(1), blob(1), "elsewhere/greet.prompt", "sub/" + P))
     + record(sha(1), raw("A", ZERO, blob(1), "elsewhere/greet.prompt")),
     P, "sub/", [(sha(2), P, blob(1))]),
]


@pytest.mark.parametrize("label, out, path, prefix, expected", LOG_CASES, ids=[c[0] for c in LOG_CASES])
def test_parse_raw_log(label, out, path, prefix, expected) -> None:
    entries = parse_raw_log(out, path, prefix)
    assert [(e.commit.sha, e.commit.path, e.blob) for e in entries] == expected
    for entry in entries:
        assert entry.commit.short == entry.commit.sha[:7]


def test_parse_raw_log_header_fields() -> None:
    (entry,) = parse_raw_log(record(sha(1), raw("A", ZERO, blob(1), P), message="add: ünï \x1e",
                                    author="José Ñ"), P)
    info = entry.commit
    assert (info.author, info.message) == ("José Ñ", "add: ünï \x1e")
    assert info.date == datetime.fromisoformat("2024-01-02T12:00:00+02:00") and info.date.tzinfo is not None
    (bad,) = parse_raw_log(record(sha(1), raw("A", ZERO, blob(1), P), date="yesterday"), P)
    assert bad.commit.date.timestamp() == 0
    assert LOG_FORMAT.startswith("%x01") and LOG_FORMAT.count("%x1f") == 3


@pytest.mark.parametrize("path, prefix, expected", [
    ("prompts/a.prompt", "", "prompts/a.prompt"),
    ("sub/prompts/a.prompt", "sub/", "prompts/a.prompt"),
    ("other/a.prompt", "sub/", None),
    ("subway/a.prompt", "sub/", None),
])
def test_relative(path, prefix, expected) -> None:
    assert relative(path, prefix) == expected


NAME_STATUS_CASES = [
    ("empty", "", []),
    ("add, modify, delete", "A\0a.prompt\0M\0b.prompt\0D\0c.prompt\0",
     [("A", None, "a.prompt"), ("M", "b.prompt", "b.prompt"), ("D", "c.prompt", None)]),
    ("rename with score, to a name with a space and non-ASCII", "R092\0old.prompt\0my café.prompt\0",
     [("R", "old.prompt", "my café.prompt")]),
    ("a copy is an addition", "C075\0a.prompt\0b.prompt\0", [("A", None, "b.prompt")]),
    ("type change reads as modified", "T\0link.prompt\0", [("M", "link.prompt", "link.prompt")]),
]


@pytest.mark.parametrize("label, out, expected", NAME_STATUS_CASES, ids=[c[0] for c in NAME_STATUS_CASES])
def test_parse_name_status(label, out, expected) -> None:
    assert parse_name_status(out) == expected
