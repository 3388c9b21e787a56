"""Entry point: the Typer app, global options, and the one place errors become exit codes."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from typing import Any, Optional

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from .. import __version__
from ..errors import PromptopsError
from . import session

# Every command, the module that defines it and its one-line help (the first line of its
# docstring; tests/test_cli.py checks that they agree). The commands load their domain modules at
# the top, so `promptops --help` and `--version` import none of them and `promptops eval` only
# the eval command's: click's documented "lazy group" pattern.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init_cmd", "Create promptops.yaml, an example prompt and suite, .gitignore and the CI workflow."),
    "list": ("prompts_cmd", "Every prompt with its current version, suite size and target."),
    "log": ("prompts_cmd", "Versions of a prompt from git history, newest first."),
    "show": ("prompts_cmd", "Show one version of a prompt."),
    "diff": ("prompts_cmd", "A readable diff of two versions of a prompt."),
    "render": ("prompts_cmd", "Print the rendered messages of a prompt for the given variables."),
    "eval": ("eval_cmd", "Score prompts against their regression suites on several models."),
    "demo": ("demo_cmd", "Run the loop end to end on real data with the embedded model (no network; the data "
                         "ships with promptops)."),
    "ci": ("ci_cmd", "Score base vs head of every touched prompt, write the PR comment, fail on gates."),
    "promote": ("deploy_cmd", "Point an environment label at a prompt version, if its eval score passes the gate."),
    "rollback": ("deploy_cmd", "Return an environment label to the version and model it had before its latest move."),
    "deployments": ("deploy_cmd", "Current labels of every prompt and environment, and the full history of label "
                                  "moves."),
    "canary": ("canary_cmd", "Compare a canary with the stable version on feedback; --promote finishes it, --abort "
                             "rolls it back."),
    "serve": ("server_cmd", "Serve prompts, calls, feedback, evals and the dashboard over HTTP (docs at /docs)."),
    "view": ("view_cmd", "Open the dashboard on the local project database (loopback only, no API key)."),
    "escalate": ("escalate_cmd", "Find prompts that plateaued below their target; fine-tune a small model for "
                                 "them."),
    "export": ("escalate_cmd", "Build a chat-JSONL fine-tuning set from the prompt's logged calls and their "
                               "feedback."),
    "finetune": ("jobs_cmd", "Start a LoRA fine-tune job in its own process; the adapter becomes "
                                 "local/<base>+<job id>."),
    "keys": ("deploy_cmd", "Server API keys: create, list, revoke."),
    "jobs": ("jobs_cmd", "Fine-tune jobs: list, show, cancel, resume."),
    "compare": ("compare_cmd", "Two versions or models of a prompt side by side, paired on the same suite cases "
                               "(McNemar)."),
    "optimize": ("optimize_cmd", "Search few-shot sets, dynamic few-shot and rewrites on a validation split; write "
                                 "the best as a new version."),
    "import": ("import_cmd", "Import suites written for other tools (promptfoo) as prompts, datasets and models."),
}
_LOADED: dict[str, Any] = {}  # module name -> the click group of its commands
_FREEZE_AFTER_LOAD = False  # set by entry(): library callers of main() keep their collector as it is


def load_command(name: str) -> Any:
    """The click command ``name``, its module imported (and its commands built) on first use."""
    module_name = COMMANDS[name][0]
    if module_name not in _LOADED:
        module = importlib.import_module(f"{__package__}.{module_name}")
        commands = typer.Typer()
        module.register(commands)
        _LOADED[module_name] = typer.main.get_group(commands)
        if _FREEZE_AFTER_LOAD:  # the console script: what start-up imported lives as long as the
            gc.freeze()  # process, so the collector's full passes skip it (7% of a cached eval's instructions)
    return _LOADED[module_name].commands[name]


class _LazyCommands(TyperGroup):
    """A group whose commands are imported when one is run (or its own --help is asked for)."""

    _listing = False  # while the group's own help is drawn: listed from COMMANDS, nothing imported

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in COMMANDS:
            return None
        if self._listing:
            return TyperCommand(name, help=COMMANDS[name][1])
        return load_command(name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(name="promptops", cls=_LazyCommands, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
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
    session.STATE["root"] = root




def main() -> None:
    """Run the CLI; library errors become a one-line message and their exit code."""

    try:
        rc = app(standalone_mode=False)  # returns typer.Exit's code in this mode
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except PromptopsError as exc:
        session.err_console().print(f"error: {exc.one_line()}", markup=False, style="red")
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        session.err_console().print("interrupted")
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
        session.end()

def entry() -> None:
    """The console script: :func:`main`, then a quick exit.

    Once litellm (or torch) is imported, the interpreter's own teardown takes over a second here
    (measured: 1.3 s after ``import litellm``), freeing a module graph that the process is about to
    drop anyway. Results are committed and reports written by then, so the entry point flushes its
    output and leaves with ``os._exit``. Library callers of :func:`main` keep the normal exit."""
    global _FREEZE_AFTER_LOAD
    _FREEZE_AFTER_LOAD = True
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if "promptops.store.db" in sys.modules:  # os._exit below skips SQLite's checkpoint at close
        sys.modules["promptops.store.db"].checkpoint_engines()
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
