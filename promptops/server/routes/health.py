"""Liveness and readiness: ``/health`` (the process and its database) and ``/ready`` (also the
model path: litellm's import takes seconds, and until it is done the first ``complete`` waits)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ... import __version__
from ...providers.litellm import litellm_loaded
from ..schemas import Health
from . import StoreDep

router = APIRouter()


async def _health(store: StoreDep) -> tuple[Health, bool]:
    import sqlalchemy as sa

    def ping() -> None:
        with store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    warm = "warm" if litellm_loaded() else "cold"
    try:
        await run_in_threadpool(ping)
    except Exception:  # noqa: BLE001 - any failure means the database is not usable
        return Health(status="unavailable", version=__version__, database=store.dialect, model_path=warm), False
    return Health(status="ok", version=__version__, database=store.dialect, model_path=warm), True


@router.get("/health", response_model=Health, tags=["meta"], responses={503: {"model": Health}})
async def health(store: StoreDep) -> JSONResponse | Health:
    """Liveness and database reachability (no key needed); ``model_path`` says whether the model
    client is loaded yet (``warm``) or the first call will wait for it (``cold``)."""
    body, ok = await _health(store)
    return body if ok else JSONResponse(body.model_dump(), status_code=503)


@router.get("/ready", response_model=Health, tags=["meta"], responses={503: {"model": Health}})
async def ready(store: StoreDep) -> JSONResponse | Health:
    """Readiness (no key needed): 200 once the database answers and the model path is warm, else
    503 (a load balancer should wait; ``promptops serve`` warms the model path at start-up)."""
    body, ok = await _health(store)
    if ok and body.model_path == "warm":
        return body
    if ok:
        body.status = "warming"
    return JSONResponse(body.model_dump(), status_code=503)
