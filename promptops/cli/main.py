"""Entry point: the Typer app, global options, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from .. import __version__
from . import common

app = typer.Typer(name="promptops", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Prompts as versioned files in git: eval, review, promote, serve, fine-tune.")


def _version(value: bool) -> None:
    if value:
        print(f"promptops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    root: Optional[str] = typer.Option(None, "--root", "-C", help="Project folder (default: found from the cwd)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """promptops: prompt management and versioning."""
    common.STATE["root"] = root


def _register() -> None:
    from . import ci_cmd, demo_cmd, deploy_cmd, escalate_cmd, eval_cmd, init_cmd, prompts_cmd, server_cmd

    for module in (init_cmd, prompts_cmd, eval_cmd, demo_cmd, ci_cmd, deploy_cmd, server_cmd, escalate_cmd):
        module.register(app)


_register()


def main() -> None:
    """Run the CLI; library errors become a one-line message and their exit code."""
    from ..errors import PromptopsError

    try:
        rc = app(standalone_mode=False)  # returns typer.Exit's code in this mode
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except PromptopsError as exc:
        common.err_console().print(f"error: {exc.one_line()}", markup=False, style="red")
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        common.err_console().print("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors from (typer's vendored) click, and its Exit
        code = getattr(exc, "exit_code", None)
        if isinstance(code, int) and type(exc).__module__.split(".")[0] in ("click", "typer"):
            if callable(getattr(exc, "show", None)):
                exc.show()
            sys.exit(code)
        raise
    finally:
        common.close()

def entry() -> None:
    """The console script: :func:`main`, then a quick exit.

    Once litellm (or torch) is imported, the interpreter's own teardown takes over a second here
    (measured: 1.3 s after ``import litellm``), freeing a module graph that the process is about to
    drop anyway. Results are committed and reports written by then, so the entry point flushes its
    output and leaves with ``os._exit``. Library callers of :func:`main` keep the normal exit."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if not any(name in sys.modules for name in ("litellm", "torch")):
        sys.exit(code)
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError, ValueError):  # output piped into `head`, say
            pass
    os._exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    entry()
