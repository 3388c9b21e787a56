"""A job id's adapter found through the job's record: the location the job itself wrote.

``local/<base>+<job id>`` on a machine that does not hold the adapter (not under ``adapter_dirs``,
not yet in ``<state>/cache/adapters/<job id>``) asks the database for the job: its record keeps the
adapter's shared copy (``metrics["artifact_url"]``, written where ``artifacts.url`` pointed when the
job ran) and the folder on the machine that trained it (``adapter_path``). The shared copy is
fetched once into the cache, whatever this machine's own ``artifacts.url`` says (it may have
another, or none). A job with no record, or a record whose location is gone, is a
:class:`~promptops.errors.ModelError` naming the job and the location.

This layer cannot read the database itself (the store sits above it): :mod:`promptops.store`
registers its reader with :func:`set_locator` when it is imported, which every command, the server
and the eval runner do. Without a reader (a bare library call that never imported the store) the
adapter is looked up, as before, at ``<artifacts.url>/adapters/<job id>`` of this machine's config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import ModelError
from .artifacts import cache_dir, fetch_adapter, fetch_dir

__all__ = ["JobAdapter", "Locator", "NoJobRecord", "from_record", "set_locator"]


class NoJobRecord(ModelError):
    """The database has no job of that id (the adapter name may mean something else to the handler)."""


@dataclass(frozen=True)
class JobAdapter:
    """What a job record says about its adapter; ``database``: where the record was read (no password)."""

    job_id: str
    status: str
    artifact_url: str | None
    adapter_path: str | None
    database: str


Locator = Callable[[Config, str], "JobAdapter | str"]  # the record, or (no record) the database it looked in
_locator: Locator | None = None


def set_locator(locator: Locator | None) -> Locator | None:
    """Install the job-record reader (returns the previous one; tests swap it)."""
    global _locator
    previous, _locator = _locator, locator
    return previous


def _has_adapter(folder: Path) -> bool:
    return (folder / "adapter_config.json").is_file()


def from_record(config: Config, job_id: str) -> Path:
    """The local folder of job ``job_id``'s adapter: the cached copy, else the record's location."""
    cached = cache_dir(config) / job_id
    if _has_adapter(cached):
        return cached
    if _locator is None:
        fetched = fetch_adapter(config, job_id) if config.artifacts.url else None
        if fetched is None:
            raise ModelError(f"adapter {job_id!r} not found",
                             hint="give a folder path, or a job id under " + ", ".join(map(str, config.adapter_dirs)))
        return fetched
    rec = _locator(config, job_id)
    if not isinstance(rec, JobAdapter):
        raise NoJobRecord(f"adapter {job_id!r}: no fine-tune job {job_id!r} in the database {rec}",
                         hint="use a job id from `promptops jobs` (the database_url the job was recorded in), "
                              "or a folder path")
    if rec.adapter_path and _has_adapter(Path(rec.adapter_path)):
        return Path(rec.adapter_path).resolve()
    if rec.artifact_url:
        fetched = fetch_dir(rec.artifact_url, cached)
        if fetched is None or not _has_adapter(fetched):
            raise ModelError(f"adapter of job {job_id}: its recorded location {rec.artifact_url} is gone",
                             where=rec.database, hint="the shared copy was moved or deleted; run the job again")
        return fetched
    where = f"at {rec.adapter_path}, which this machine does not have" if rec.adapter_path else "nowhere"
    state = "" if rec.status == "succeeded" else f" (the job is {rec.status}: it has no adapter yet)"
    raise ModelError(f"adapter of job {job_id}: the record puts it {where}{state}", where=rec.database,
                     hint="set artifacts.url before training so any machine can fetch the adapter, "
                          "or use this on the machine that trained it")
