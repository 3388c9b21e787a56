"""Project configuration: ``promptops.yaml`` at the repository root.

One settings layer, applied by :func:`load_config` and nowhere else: the defaults of
:class:`Config`, then the file, then these environment variables (each overrides its key):

=================================  ========================  =====================================
variable                           key                       meaning
=================================  ========================  =====================================
``PROMPTOPS_DATABASE_URL``         ``database_url``          any SQLAlchemy URL
``PROMPTOPS_WORKERS``              ``workers``               call processes (``auto``: the default)
``PROMPTOPS_RETRY_BACKOFF``        ``retry_backoff``         first retry wait in seconds (doubles)
``PROMPTOPS_JOB_HEARTBEAT_S``      ``job_heartbeat_s``       fine-tune worker heartbeat interval
``PROMPTOPS_JOB_STALE_S``          ``job_stale_s``           a job silent this long is failed
``PROMPTOPS_LITELLM_FULL_LOGGING`` ``litellm_full_logging``  keep litellm's per-call logging (1/0)
``PROMPTOPS_LITELLM_DIRECT``       ``litellm_direct``        compiled litellm plans (0: acompletion)
=================================  ========================  =====================================

A ``.env`` file in the project root is read too (``KEY=value`` lines; variables already set in the
environment win): its ``PROMPTOPS_*`` lines are settings like these, its other lines (provider keys)
are set in the process environment where unset. An empty variable counts as unset; a value that does not parse, or breaks the key's bounds, is a
:class:`~promptops.errors.ConfigError` naming the variable. ``PROMPTOPS_ROOT`` picks the project
root (see :func:`find_root`); without it the root is the nearest folder at or above the working
directory that holds ``promptops.yaml`` (or, failing that, a ``prompts/`` folder).

Not settings: ``PROMPTOPS_JOB_TRAINER`` is a test hook of the fine-tune worker process (it swaps
the trainer module, see :mod:`promptops.finetune.worker`), and ``PROMPTOPS_PR_NUMBER`` is an input
of the CI job (:mod:`promptops.ci.github`), like the ``GITHUB_*`` variables beside it.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ._util import dotenv, schema, yamlsafe
from .errors import ConfigError

CONFIG_FILE = "promptops.yaml"

# Plain dataclasses checked by a small validator, not pydantic models: building eight pydantic
# schemas at import cost ~0.2 s, and every command (``promptops list`` included) reads the config.


@dataclass
class ModelPrice:
    """A model's price in USD, for models litellm does not price (it wins over litellm's when set):
    input and output, each per token or per million tokens."""

    input_per_token: float | None = field(default=None, metadata={"ge": 0})
    output_per_token: float | None = field(default=None, metadata={"ge": 0})
    input_per_million: float | None = field(default=None, metadata={"ge": 0})
    output_per_million: float | None = field(default=None, metadata={"ge": 0})

    def __post_init__(self) -> None:
        for side in ("input", "output"):
            given = [getattr(self, f"{side}_per_{unit}") is not None for unit in ("token", "million")]
            if sum(given) != 1:
                raise ValueError(f"price: give {side}_per_token or {side}_per_million" + (", not both" if all(given)
                                                                                          else ""))

    def per_token(self) -> tuple[float, float]:
        """(input, output) USD per token."""
        def one(side: str) -> float:
            per_token = getattr(self, f"{side}_per_token")
            return per_token if per_token is not None else getattr(self, f"{side}_per_million") / 1e6

        return one("input"), one("output")


@dataclass
class ModelOptions:
    """Per-model settings. The key in ``models:`` is the name users write; ``model`` is litellm's."""

    model: str | None = None          # litellm model name, when it differs from the key
    api_base: str | None = None
    api_key_env: str | None = None    # name of the environment variable holding the key
    concurrency: int | None = field(default=None, metadata={"ge": 1})
    timeout: float | None = field(default=None, metadata={"gt": 0})
    max_retries: int | None = field(default=None, metadata={"ge": 0})
    params: dict[str, Any] = field(default_factory=dict)  # extra litellm parameters
    price: ModelPrice | None = None  # custom price (see ModelPrice); else litellm's, if it knows one


@dataclass
class EnvironmentOptions:
    min_score: float | None = field(default=None, metadata={"ge": 0, "le": 1})  # promote gate


@dataclass
class CIOptions:
    fail_on: list[str] = field(default_factory=lambda: ["regression", "below-min"])
    max_drop: float = field(default=0.05, metadata={"ge": 0, "le": 1})
    alpha: float = field(default=0.05, metadata={"gt": 0, "lt": 1})
    max_failing_cases: int = field(default=10, metadata={"ge": 0})


@dataclass
class EscalateOptions:
    window: int = field(default=3, metadata={"ge": 1})
    delta: float = field(default=0.02, metadata={"ge": 0, "le": 1})
    budget: int = field(default=8, metadata={"ge": 1})  # versions after which one well below target plateaus
    min_examples: int = field(default=50, metadata={"ge": 1})
    branch: str = "main"


@dataclass
class ServerOptions:
    require_auth: bool = False
    max_body_bytes: int = field(default=262_144, metadata={"ge": 1024})
    # seconds a verified API key is trusted without asking the database (0: a revocation takes effect
    # on the next request, at one key lookup per request)
    key_ttl: float = field(default=5.0, metadata={"ge": 0, "le": 3600})
    # models /v1/chat/completions passes through to litellm (a `models:` key or a litellm name);
    # any other name that is not `prompt:NAME` is refused
    allowed_models: list[str] = field(default_factory=list)


@dataclass
class FinetuneOptions:
    backend: str = field(default="local", metadata={"choices": ("local", "ray")})  # where jobs run


@dataclass
class RayOptions:
    # a running cluster's job-submission (dashboard) address, http://HOST:8265; unset: a local Ray on demand
    address: str | None = None
    local_cpus: int | None = field(default=None, metadata={"ge": 1})  # CPUs of the local Ray started on demand


@dataclass
class ArtifactsOptions:
    # where checkpoints and finished adapters go: a folder or an fsspec URL (s3://, gs://, file://);
    # unset: <state>/adapters only
    url: str | None = None


@dataclass
class Config:
    """Everything ``promptops.yaml`` may hold."""

    prompts_dir: str = "prompts"
    datasets_dir: str = "datasets"
    state_dir: str = ".promptops"
    database_url: str | None = None
    default_model: str = "local/smollm2"
    models: dict[str, ModelOptions] = field(default_factory=dict)
    concurrency: int = field(default=50, metadata={"ge": 1})
    timeout: float = field(default=120.0, metadata={"gt": 0})
    max_retries: int = field(default=4, metadata={"ge": 0})
    workers: int | None = field(default=None, metadata={"ge": 1})  # call processes; default: per core for big evals
    retry_backoff: float = field(default=0.5, metadata={"ge": 0})  # seconds before the first retry; doubles
    job_heartbeat_s: float = field(default=5.0, metadata={"gt": 0})   # fine-tune worker heartbeat
    job_stale_s: float = field(default=120.0, metadata={"gt": 0})     # no heartbeat this long: job failed
    litellm_full_logging: bool = False  # keep litellm's per-call success logging with no callback set
    litellm_direct: bool = True  # compiled litellm plans for the providers with parity tests (providers.fastpath)
    environments: dict[str, EnvironmentOptions] = field(default_factory=dict)
    ci: CIOptions = field(default_factory=CIOptions)
    escalate: EscalateOptions = field(default_factory=EscalateOptions)
    server: ServerOptions = field(default_factory=ServerOptions)
    finetune: FinetuneOptions = field(default_factory=FinetuneOptions)
    ray: RayOptions = field(default_factory=RayOptions)
    artifacts: ArtifactsOptions = field(default_factory=ArtifactsOptions)
    # Set after loading; not part of the file.
    root: Path = field(default=Path("."), metadata={"internal": True})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        """Validate a mapping (the parsed file); ValueError names the key at fault."""
        return schema.build(cls, data)

    @property
    def prompts_path(self) -> Path:
        return self.root / self.prompts_dir

    @property
    def datasets_path(self) -> Path:
        return self.root / self.datasets_dir

    @property
    def state_path(self) -> Path:
        return self.root / self.state_dir

    @property
    def adapter_dirs(self) -> list[Path]:
        """Where the local provider looks up adapter ids (fine-tune job ids): ``<state>/adapters``."""
        return [self.state_path / "adapters"]

    def db_url(self) -> str:
        """The database URL: ``database_url`` (``PROMPTOPS_DATABASE_URL`` applied by
        :func:`load_config`), else SQLite under the state folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_path / 'promptops.db').as_posix()}"

    def model_options(self, name: str) -> ModelOptions:
        return self.models.get(name) or ModelOptions()


#: environment variable → top-level key it overrides (see the module docstring)
ENV_SETTINGS: dict[str, str] = {
    "PROMPTOPS_DATABASE_URL": "database_url",
    "PROMPTOPS_WORKERS": "workers",
    "PROMPTOPS_RETRY_BACKOFF": "retry_backoff",
    "PROMPTOPS_JOB_HEARTBEAT_S": "job_heartbeat_s",
    "PROMPTOPS_JOB_STALE_S": "job_stale_s",
    "PROMPTOPS_LITELLM_FULL_LOGGING": "litellm_full_logging",
    "PROMPTOPS_LITELLM_DIRECT": "litellm_direct",
}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _env_overrides(environ: typing.Mapping[str, str]) -> dict[str, Any]:
    """The environment's settings, parsed to their keys' types and checked with the file's rules."""
    hints = typing.get_type_hints(Config)
    meta = {f.name: f.metadata for f in fields(Config)}
    out: dict[str, Any] = {}
    for var, key in ENV_SETTINGS.items():
        raw = environ.get(var, "").strip()
        if not raw:
            continue
        try:
            out[key] = schema.convert(hints[key], _parse_env(hints[key], raw), var, meta[key])
        except ValueError as exc:
            message = str(exc) if str(exc).startswith(var) else f"{var}: {exc}"
            raise ConfigError(f"{message} (got {raw!r})", where="environment",
                              hint=f"fix or unset {var} (promptops.yaml key: {key})") from None
    return out


def _parse_env(tp: Any, raw: str) -> Any:
    """A variable's text as the value the file would hold (ValueError when it is not one)."""
    args = typing.get_args(tp)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), tp)
    word = raw.lower()
    if optional and word == "auto":
        return None
    if base is bool:
        if word not in _TRUE + _FALSE:
            raise ValueError("must be 1 or 0 (true/false, yes/no, on/off)")
        return word in _TRUE
    if base in (int, float):
        try:
            return base(raw)
        except ValueError:
            kind = "an integer" if base is int else "a number"
            raise ValueError(f"must be {kind}" + (" or auto" if optional else "")) from None
    return raw


def find_root(start: Path | None = None) -> Path:
    """The project root: ``PROMPTOPS_ROOT``, or the nearest folder with promptops.yaml or prompts/."""
    env = os.environ.get("PROMPTOPS_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    for folder in (here, *here.parents):
        if (folder / "prompts").is_dir():
            return folder
    return here


def load_config(root: Path | None = None) -> Config:
    """Load and validate the settings: defaults, then ``promptops.yaml`` (an absent file means all
    defaults), then the ``PROMPTOPS_*`` environment variables of :data:`ENV_SETTINGS`."""
    root = Path(root).resolve() if root else find_root()
    path = root / CONFIG_FILE
    data: dict[str, Any] = {}
    if path.exists() and not path.is_file():
        raise ConfigError(f"{CONFIG_FILE} is not a file", where=str(path), hint="remove it or make it a YAML file")
    if path.is_file():
        try:
            loaded = yamlsafe.load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text (byte {exc.start})", where=str(path),
                              hint="save the file as UTF-8") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", where=where,
                              hint="fix the YAML syntax") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError("top level must be a mapping", where=str(path))
        data = loaded
    try:
        config = Config.from_dict(data)
    except ValueError as exc:
        raise ConfigError(str(exc), where=str(path),
                          hint="see the promptops.yaml reference in the README") from None
    for key, value in _env_overrides(_with_dotenv(root)).items():
        setattr(config, key, value)
    config.root = root
    return config


def _with_dotenv(root: Path) -> typing.Mapping[str, str]:
    """The environment with ``root/.env`` under it (:mod:`promptops._util.dotenv`): its
    ``PROMPTOPS_*`` settings feed :data:`ENV_SETTINGS` here; its other variables (provider keys)
    are put into ``os.environ`` where they are not set, for the providers to read."""
    path = root / dotenv.FILE
    try:
        values = dotenv.read(root)
    except dotenv.DotenvError as exc:
        raise ConfigError(exc.problem, where=f"{path}:{exc.line}", hint="write KEY=value lines") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", where=str(path)) from None
    if "PROMPTOPS_ROOT" in values:
        raise ConfigError("PROMPTOPS_ROOT cannot be set in .env (the root decides which .env is read)",
                          where=str(path), hint="export it in the shell instead")
    for name, value in values.items():
        if not name.startswith("PROMPTOPS_"):
            os.environ.setdefault(name, value)
    return dotenv.merged(values)
