"""The store's answer to "where is job X's adapter?" for ``local/<base>+<job id>``
(:mod:`promptops.localmodels.job_record`, which cannot import the store: it is registered there
when :mod:`promptops.store` is imported). A SQLite database that does not exist yet is not created:
it simply has no record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NotFoundError
from ..localmodels.job_record import JobAdapter
from .lite import sqlite_path

if TYPE_CHECKING:
    from ..config import Config


def locate(config: Config, job_id: str) -> JobAdapter | str:
    """The record of ``job_id`` (its adapter's locations), or the database (shown) that has none."""
    from .db import (  # SQLAlchemy, as in open_store
        normalize_url,
        open_engine,
        shown,
        url_of,
    )
    from .store import Store

    url = config.db_url()
    where = shown(normalize_url(url))
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return where
    try:
        job = Store(open_engine(url_of(config))).get_job(job_id)
    except NotFoundError:
        return where
    metrics = job.metrics or {}
    return JobAdapter(job_id=job.id, status=job.status, artifact_url=metrics.get("artifact_url"),
                      adapter_path=job.adapter_path, database=where)
