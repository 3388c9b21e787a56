"""promptops view: the dashboard on the local database, on loopback, with no API key."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import PromptopsError
from . import common


def register(app: typer.Typer) -> None:
    app.command("view")(view)


def view(
    run: Optional[int] = typer.Argument(None, metavar="[RUN]", help="Open this eval run's grid (default: the prompts page)."),
    base: Optional[int] = typer.Option(None, "--compare", metavar="RUN", help="Compare RUN with this (base) run."),
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address to listen on (others are refused)."),
    port: int = typer.Option(0, "--port", help="Port to listen on (0: a free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL only; do not open a browser."),
) -> None:
    """Open the dashboard on the local project database (loopback only, no API key)."""
    from ..server.viewer import check_loopback, open_browser, serve_viewer

    check_loopback(host)  # before anything is opened
    if base is not None and run is None:
        raise PromptopsError("--compare needs the RUN to compare", where="--compare", hint="promptops view RUN --compare BASE")
    project = common.project()
    if run is not None:
        project.store.get_run(run)  # an unknown run fails now, not in the browser
    path = "/" if run is None else f"/evals/{run}" + ("" if base is None else f"?base={base}")

    def ready(url: str) -> None:
        common.console().print(f"promptops view: {project.config.root} at {url}", markup=False, soft_wrap=True)
        opened = False if no_browser else open_browser(url)
        common.err_console().print("opened in your browser; Ctrl-C stops" if opened
                                   else "open the URL in a browser; Ctrl-C stops", markup=False)

    serve_viewer(project, host=host, port=port, path=path, on_ready=ready)
