"""Project configuration: ``promptops.yaml`` at the repository root.

Defaults, then the file, then environment variables (``PROMPTOPS_DATABASE_URL``). The project
root is the nearest folder at or above the working directory that holds ``promptops.yaml``
(or, failing that, a ``prompts/`` folder), or ``PROMPTOPS_ROOT`` when set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

CONFIG_FILE = "promptops.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelOptions(_Strict):
    """Per-model settings. The key in ``models:`` is the name users write; ``model`` is litellm's."""

    model: str | None = Field(None, description="litellm model name, when it differs from the key")
    api_base: str | None = None
    api_key_env: str | None = Field(None, description="name of the environment variable holding the key")
    concurrency: int | None = Field(None, ge=1)
    timeout: float | None = Field(None, gt=0)
    max_retries: int | None = Field(None, ge=0)
    params: dict[str, Any] = Field(default_factory=dict, description="extra litellm parameters")


class EnvironmentOptions(_Strict):
    min_score: float | None = Field(None, ge=0, le=1, description="gate for promote; default: the prompt's target")


class CIOptions(_Strict):
    fail_on: list[str] = Field(default_factory=lambda: ["regression", "below-min"])
    max_drop: float = Field(0.05, ge=0, le=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    max_failing_cases: int = Field(10, ge=0)


class EscalateOptions(_Strict):
    window: int = Field(3, ge=1)
    delta: float = Field(0.02, ge=0, le=1)
    min_examples: int = Field(50, ge=1)
    branch: str = "main"


class ServerOptions(_Strict):
    require_auth: bool = False
    max_body_bytes: int = Field(262_144, ge=1024)


class Config(_Strict):
    """Everything ``promptops.yaml`` may hold."""

    prompts_dir: str = "prompts"
    datasets_dir: str = "datasets"
    state_dir: str = ".promptops"
    database_url: str | None = None
    default_model: str = "local/smollm2"
    models: dict[str, ModelOptions] = Field(default_factory=dict)
    concurrency: int = Field(50, ge=1)
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    workers: int | None = Field(None, ge=1, description="processes for model calls; default: one per core for big evals")
    environments: dict[str, EnvironmentOptions] = Field(default_factory=dict)
    ci: CIOptions = Field(default_factory=CIOptions)
    escalate: EscalateOptions = Field(default_factory=EscalateOptions)
    server: ServerOptions = Field(default_factory=ServerOptions)

    # Set after loading; not part of the file.
    root: Path = Field(default=Path("."), exclude=True)

    @property
    def prompts_path(self) -> Path:
        return self.root / self.prompts_dir

    @property
    def datasets_path(self) -> Path:
        return self.root / self.datasets_dir

    @property
    def state_path(self) -> Path:
        return self.root / self.state_dir

    def db_url(self) -> str:
        """The database URL: env var, then the file, then SQLite under the state folder."""
        url = os.environ.get("PROMPTOPS_DATABASE_URL") or self.database_url
        if url:
            return url
        return f"sqlite:///{(self.state_path / 'promptops.db').as_posix()}"

    def model_options(self, name: str) -> ModelOptions:
        return self.models.get(name) or ModelOptions()


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
    """Load and validate ``promptops.yaml`` (an absent file means all defaults)."""
    root = Path(root).resolve() if root else find_root()
    path = root / CONFIG_FILE
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
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
        config = Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{loc}: {err['msg']}", where=str(path),
                          hint="see the promptops.yaml reference in the README") from None
    config.root = root
    return config
