"""One eval of a fingerprint at a time: two ``promptops eval`` of the same prompt version, models,
suite and repeat started together would both resume the same unfinished run and both make every
call. The second waits on a lock file per fingerprint (``<state_dir>/locks/eval-<fp>.lock``, an
``flock``), then finds the first's answers in the response cache and makes no call.

The lock is local to the machine (evals on two machines sharing one PostgreSQL database are not
serialised); where ``fcntl`` is missing (Windows) it is a no-op."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def lock_path(state_dir: Path, fp: str) -> Path:
    return state_dir / "locks" / f"eval-{fp[:40]}.lock"


def _acquire(path: Path) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # a read-only state folder: run unserialised rather than not at all
        return None
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _release(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def eval_locks(state_dir: Path, fingerprints: Iterable[str]) -> AsyncIterator[None]:
    """Hold the lock of every fingerprint (taken in sorted order, so two evals never deadlock),
    waiting in a thread so the event loop keeps running."""
    held: list[int] = []
    try:
        if fcntl is not None:
            for fp in sorted(set(fingerprints)):
                fd = await asyncio.to_thread(_acquire, lock_path(state_dir, fp))
                if fd is not None:
                    held.append(fd)
        yield
    finally:
        for fd in reversed(held):
            _release(fd)
