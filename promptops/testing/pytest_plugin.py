"""pytest fixtures for promptops projects: a fake model server, a git project, a store, the CLI.

Enable them in a ``conftest.py``::

    pytest_plugins = ["promptops.testing.pytest_plugin"]

- ``fake_openai``: one :class:`~promptops.testing.FakeOpenAI` per session, its settings back at
  their defaults and its counts zeroed for every test (``fake_openai.configure(...)`` to change them).
- ``git_project``: a git repository with promptops.yaml, ``prompts/capital.prompt`` and a suite
  of 20 capitals (:func:`promptops.testing.project.make_project`), its model ``fake/a`` on
  ``fake_openai``, which answers every capital right until the test configures otherwise.
- ``store`` (and ``store_url``): a migrated store on SQLite, and again on PostgreSQL when
  ``PROMPTOPS_TEST_POSTGRES_URL`` is set (marked ``postgres``; a schema of its own, dropped after).
- ``cli``: the ``promptops`` command in this process; see :class:`CliInvoker`.
"""

from __future__ import annotations

import inspect
import logging
import os
import secrets
import shutil
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ..cli import common as cli_common
from ..cli import session as cli_session
from ..cli import main as cli_main
from ..store import Store, db, open_store
from .fake_openai import FakeOpenAI
from .project import capital_rules, make_project

POSTGRES_URL_ENV = "PROMPTOPS_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"postgres: needs {POSTGRES_URL_ENV}")


# --- the fake model server ---------------------------------------------------------------------------

def _server_defaults() -> dict[str, object]:
    """The settings a fresh :class:`FakeOpenAI` has, as :meth:`FakeOpenAI.configure` takes them."""
    params = inspect.signature(FakeOpenAI.__init__).parameters
    defaults = {name: p.default for name, p in params.items()
                if p.default is not inspect.Parameter.empty and name not in ("host", "port")}
    if defaults.get("model_latency") is None:
        defaults["model_latency"] = {}  # what __init__ makes of None
    return defaults


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """The session's fake server as it is; most tests want ``fake_openai`` (reset for each test)."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The fake OpenAI-compatible server at ``fake_openai.base_url``, fresh for this test:
    default settings (answers echo the last user message), counts at zero."""
    defaults = _server_defaults()
    fake_openai_server.configure(**defaults)
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.configure(**defaults)  # a later test using the session server directly sees defaults
    fake_openai_server.reset()


# --- a project --------------------------------------------------------------------------------------

@pytest.fixture
def git_project(tmp_path: Path, fake_openai: FakeOpenAI) -> Path:
    """A committed promptops project in ``tmp_path / "repo"``; ``fake_openai`` answers its 20
    capitals right (``fake_openai.configure(rules=capital_rules({"Peru"}))`` to get one wrong)."""
    fake_openai.configure(rules=capital_rules())
    return make_project(tmp_path / "repo", fake_openai.base_url)


# --- the store --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def promptops_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy: creating the tables costs more than most tests."""
    path = tmp_path_factory.mktemp("promptops-template") / "promptops.db"
    open_store(f"sqlite:///{path}")
    db.dispose_engines()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL: a SQLite file under ``tmp_path``, or a fresh schema on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'promptops.db'}"
        db.dispose_engines()
        return
    pg_url = os.environ.get(POSTGRES_URL_ENV)
    if not pg_url:
        pytest.skip(f"set {POSTGRES_URL_ENV} to run the PostgreSQL tests")
    import sqlalchemy as sa  # only the PostgreSQL runs need it here

    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(db.normalize_url(pg_url))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield db.normalize_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        db.dispose_engines()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def store(store_url: str, promptops_sqlite_template: Path) -> Store:
    """A store on a database at the head migration (SQLite: a copy of a migrated template)."""
    if store_url.startswith("sqlite:///"):
        target = Path(store_url.removeprefix("sqlite:///"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(promptops_sqlite_template, target)
    return open_store(store_url)


# --- the CLI ----------------------------------------------------------------------------------------

@dataclass
class CliResult:
    """One command's outcome; ``returncode`` as :class:`subprocess.CompletedProcess` names it, so a
    test reads the same whether the command ran here or in a subprocess."""

    exit_code: int
    stdout: str
    stderr: str
    output: str  # stdout and stderr interleaved, as a terminal shows them
    exception: BaseException | None = None  # an error the CLI did not turn into a message

    @property
    def returncode(self) -> int:
        return self.exit_code


def reset_cli_state() -> None:
    """Forget what one command run left behind: the project it opened, ``--root``, cached
    config and consoles (a console caches the streams and terminal width it was made with)."""
    cli_session.end()
    cli_common.close()
    cli_session.STATE["root"] = None
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "promptops.cli" or name.startswith("promptops.cli.")):
            continue
        for value in list(vars(module).values()):
            if getattr(value, "__module__", None) == name and callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


class CliInvoker:
    """Runs ``promptops ARGS`` in this process, as the console script would, without the second
    or two a fresh interpreter costs.

    It calls :func:`promptops.cli.main.main` (the Typer app plus the one place where library
    errors become a message and an exit code) with ``sys.argv`` set, inside
    :meth:`typer.testing.CliRunner.isolation` (captured stdin, stdout and stderr; environment
    overrides, restored after). So the exit code and output are those of the subprocess; what
    differs is only what the console script does after :func:`main`: ``os._exit`` once litellm is
    loaded. An error that escapes :func:`main` prints its traceback to ``stderr`` and gives exit
    code 1, as Python would. Tests about processes (import cost, kill -9, workers, detached jobs,
    the environment of a fresh interpreter) still need a subprocess.
    """

    def __init__(self, runner: CliRunner | None = None):
        self.runner = runner or CliRunner()

    def __call__(self, *args: str | os.PathLike, cwd: str | os.PathLike | None = None,
                 env: Mapping[str, str | None] | None = None, input: str | bytes | None = None,
                 code: int | None = 0) -> CliResult:
        """Run one command in ``cwd`` (default: the current folder) with ``env`` overrides (``None``
        unsets a variable). ``code``: the exit code to assert (``None``: any)."""
        argv = ["promptops", *map(str, args)]
        old_argv, old_cwd = sys.argv, os.getcwd()
        reset_cli_state()
        try:
            if cwd is not None:
                os.chdir(cwd)
            sys.argv = argv
            result = self._invoke(input, env)
        finally:
            sys.argv = old_argv
            os.chdir(old_cwd)
            reset_cli_state()
        if code is not None:
            assert result.exit_code == code, (argv[1:], result.exit_code, result.stdout, result.stderr)
        return result

    def _invoke(self, input: str | bytes | None, env: Mapping[str, str | None] | None) -> CliResult:
        exception: BaseException | None = None
        real = (sys.stdout, sys.stderr)
        with self.runner.isolation(input=input, env=env) as (out, err, mixed):
            captured = (sys.stdout, sys.stderr)
            try:
                cli_main.main()
                exit_code = 0
            except SystemExit as exc:
                exit_code = _exit_status(exc.code)
            except Exception as exc:  # noqa: BLE001 - reported as the interpreter would
                traceback.print_exc()
                exception, exit_code = exc, 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                _release_log_streams(list(zip(captured, real)))
            charset = self.runner.charset
            stdout, stderr = out.getvalue().decode(charset), err.getvalue().decode(charset, "replace")
            output = mixed.getvalue().decode(charset, "replace")
        return CliResult(exit_code, stdout.replace("\r\n", "\n"), stderr.replace("\r\n", "\n"),
                         output.replace("\r\n", "\n"), exception)


def _release_log_streams(pairs: list[tuple[object, object]]) -> None:
    """Point log handlers made during the command (by a library imported there for the first time,
    say) from the captured streams, closed once the command is over, to the real ones."""
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if not isinstance(handler, logging.StreamHandler):
                continue
            for captured, real in pairs:
                if handler.stream is captured:
                    handler.setStream(real)


def _exit_status(code: object) -> int:
    """The process exit status ``sys.exit(code)`` gives (a message goes to stderr, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


@pytest.fixture
def cli() -> Iterator[CliInvoker]:
    """``cli("list", "--json", cwd=root)`` → :class:`CliResult`: the CLI in this process."""
    yield CliInvoker()
    reset_cli_state()
