"""Writing files and folders so that a reader, or a crash, never sees them half-written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` (text or bytes) to ``path`` through a temporary file beside it and one rename.

    Readers see the old content or the new, never a part; a failed write leaves the old file and
    no temporary. The temporary name is hidden and unique per process and call, so two writers of
    the same path do not trample each other's temporary (the last rename wins). The parent folder
    must exist. Atomic against a crash of this process, not against power loss (no fsync: reports
    and exports are cheap to write again, and an fsync per file would slow every eval down).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding=encoding)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def publish_dir(staged: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Move the finished folder ``staged`` to ``target``, replacing what was there.

    The old ``target`` is renamed to ``<target>.old`` first and removed only after the new one is
    in place, so at every moment one of the two names holds a complete folder (a reader that
    finds no ``target`` may fall back to ``<target>.old``). ``staged`` must be on the same file
    system as ``target``: build it beside it.
    """
    staged, target = Path(staged), Path(target)
    old = target.with_name(target.name + ".old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staged.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target
