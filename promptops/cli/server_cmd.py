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
) -> None:
    """Serve prompts, calls, feedback, evals and the dashboard over HTTP (docs at /docs)."""
    import uvicorn

    from ..server import create_app

    cfg = common.config()
    app = create_app(common.project(), warm_providers=True)
    common.err_console().print(f"promptops serving {cfg.root} on http://{host}:{port}  (dashboard /, API docs /docs)")
    uvicorn.run(app, host=host, port=port, log_level=log_level)
