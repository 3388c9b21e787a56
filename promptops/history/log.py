"""A pure parser of ``git log --follow --raw --no-abbrev -z --format=LOG_FORMAT -- <file>`` output.

Each record is ``\\x01`` + the header fields joined by ``\\x1f`` + NUL, then raw diff lines
``:<old mode> <new mode> <old blob> <new blob> <status>`` NUL ``<path>`` NUL (two paths for a
rename or copy). Following one file through renames, the parser tracks the file's path at every
commit, so older entries carry the old name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

LOG_FORMAT = "%x01%H%x1f%aI%x1f%an%x1f%s"


@dataclass(frozen=True)
class CommitInfo:
    """One commit at which a prompt file had a given content."""

    sha: str
    short: str
    date: datetime  # author date, timezone-aware
    author: str
    message: str  # first line
    path: str  # the prompt file's path at this commit (relative to root)


@dataclass
class LogEntry:
    """One commit of a followed file. ``blob`` is None when git printed no raw line (a merge):
    the content is then the file at ``commit.path`` in the commit's tree."""

    commit: CommitInfo
    blob: str | None


def relative(git_path: str, prefix: str) -> str | None:
    """A repository path made relative to the folder ``prefix`` (``''`` or ``'a/b/'``); None outside it."""
    if not prefix:
        return git_path
    return git_path[len(prefix):] if git_path.startswith(prefix) else None


def parse_raw_log(out: str, path: str, prefix: str = "") -> list[LogEntry]:
    """The entries (newest first) of a file whose path is ``path`` (relative to ``prefix``) at the
    newest commit. Deletions and all-zero blobs are left out; a merge listed once per parent
    (``-m``) is kept once."""
    entries: list[LogEntry] = []
    done: set[str] = set()
    current = path  # the file's path at the commit being read (older commits may use an old path)
    for record in out.split("\x01"):
        if not record.strip("\0\n"):
            continue
        header, _, rest = record.partition("\0")
        sha, date, author, message = (header.split("\x1f") + ["", "", "", ""])[:4]
        if sha in done:
            continue
        done.add(sha)
        tokens = rest.lstrip("\n").split("\0")
        blob, path, older, deleted, seen = None, current, current, False, False
        i = 0
        while i < len(tokens):
            meta = tokens[i]
            if not meta.startswith(":"):
                i += 1
                continue
            fields = meta[1:].split()
            status = fields[-1] if fields else "M"
            if status[:1] in ("R", "C") and i + 2 < len(tokens):
                src, dst = tokens[i + 1], tokens[i + 2]
                i += 3
            else:
                src = dst = tokens[i + 1] if i + 1 < len(tokens) else ""
                i += 2
            if seen:
                continue  # one file is followed; take its first entry
            seen = True
            dst_rel, src_rel = relative(dst, prefix), relative(src, prefix)
            if dst_rel is None:
                continue
            path = dst_rel
            older = src_rel if status[:1] == "R" and src_rel else dst_rel
            if status[:1] == "D":
                deleted = True
            else:
                blob = fields[3] if len(fields) >= 4 else None
        if deleted:
            current = path
            continue
        info = CommitInfo(sha=sha, short=sha[:7], date=parse_date(date), author=author, message=message, path=path)
        if not seen:  # a merge: no raw line
            entries.append(LogEntry(commit=info, blob=None))
            continue
        if blob is None or set(blob) == {"0"}:
            continue
        entries.append(LogEntry(commit=info, blob=blob))
        current = older
    return entries


def parse_date(text: str) -> datetime:
    """An ISO 8601 date; the epoch (local time) when git printed something else."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return datetime.fromtimestamp(0).astimezone()
