"""promptops serve: the HTTP server and dashboard (API keys: ``promptops keys``, in deploy_cmd)."""

from __future__ import annotations

import typer

from . import common


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", help="Port to listen on."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Server processes on the one port and database (uvicorn workers); each "
                                     "keeps its own prompt cache, so they agree on a label move within a second."),
) -> None:
    """Serve prompts, calls, feedback, evals and the dashboard over HTTP (docs at /docs)."""
    import os

    import uvicorn

    from ..server import create_app
    from ..server.app import WORKER_ROOT_ENV

    cfg = common.config()
    if workers > 1:  # uvicorn starts each worker from an import string; the project root goes by env
        os.environ[WORKER_ROOT_ENV] = str(cfg.root)
        common.err_console().print(f"promptops serving {cfg.root} on http://{host}:{port} with {workers} workers "
                                   "(dashboard /, API docs /docs)")
        uvicorn.run("promptops.server.app:worker_app", factory=True, workers=workers, host=host, port=port,
                    log_level=log_level)
        return
    app = create_app(common.project(), warm_providers=True)
    common.err_console().print(f"promptops serving {cfg.root} on http://{host}:{port}  (dashboard /, API docs /docs)")
    uvicorn.run(app, host=host, port=port, log_level=log_level)
