"""The settings layer (defaults < promptops.yaml < PROMPTOPS_* environment) and Project."""

import subprocess

import pytest

from promptops.config import ENV_SETTINGS, Config, load_config
from promptops.errors import ConfigError
from promptops.project import Project, using

SETTINGS = {  # key: (default, file value, environment text, environment value)
    "retry_backoff": (0.5, 0.25, "0.01", 0.01),
    "workers": (None, 3, "2", 2),
    "job_heartbeat_s": (5.0, 2.0, "0.5", 0.5),
    "job_stale_s": (120.0, 60.0, "30", 30.0),
    "litellm_full_logging": (False, True, "0", False),
    "litellm_direct": (True, False, "1", True),
    "database_url": (None, "sqlite:///file.db", "sqlite:///env.db", "sqlite:///env.db"),
}
VARS = {key: var for var, key in ENV_SETTINGS.items()}


@pytest.fixture
def clean_env(monkeypatch):
    for var in ENV_SETTINGS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("PROMPTOPS_ROOT", raising=False)
    return monkeypatch


def _write(root, values):
    import yaml

    (root / "promptops.yaml").write_text(yaml.safe_dump(values))


def test_every_variable_has_a_key_and_a_case_here():
    assert set(VARS) == set(SETTINGS)
    assert all(var.startswith("PROMPTOPS_") for var in ENV_SETTINGS)


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_defaults_then_file_then_environment(tmp_path, clean_env, key):
    default, in_file, env_text, from_env = SETTINGS[key]
    assert getattr(Config(), key) == default
    assert getattr(load_config(tmp_path), key) == default
    _write(tmp_path, {key: in_file})
    assert getattr(load_config(tmp_path), key) == in_file
    clean_env.setenv(VARS[key], env_text)
    assert getattr(load_config(tmp_path), key) == from_env
    clean_env.setenv(VARS[key], "")  # empty counts as unset
    assert getattr(load_config(tmp_path), key) == in_file


def test_workers_auto_in_the_environment_means_the_default(tmp_path, clean_env):
    _write(tmp_path, {"workers": 4})
    clean_env.setenv("PROMPTOPS_WORKERS", "auto")
    assert load_config(tmp_path).workers is None


@pytest.mark.parametrize("var, value, fragment", [
    ("PROMPTOPS_RETRY_BACKOFF", "soon", "must be a number"),
    ("PROMPTOPS_RETRY_BACKOFF", "-1", "must be >= 0"),
    ("PROMPTOPS_WORKERS", "many", "must be an integer or auto"),
    ("PROMPTOPS_WORKERS", "0", "must be >= 1"),
    ("PROMPTOPS_JOB_HEARTBEAT_S", "0", "must be > 0"),
    ("PROMPTOPS_JOB_STALE_S", "2m", "must be a number"),
    ("PROMPTOPS_LITELLM_FULL_LOGGING", "maybe", "must be 1 or 0"),
])
def test_a_bad_environment_value_is_a_config_error_naming_the_variable(tmp_path, clean_env, var, value, fragment):
    clean_env.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.message.startswith(var) and fragment in info.value.message
    assert repr(value) in info.value.message and var in info.value.hint


def test_the_cli_reports_a_bad_environment_value(tmp_path, clean_env):
    import os
    import sys

    env = {**os.environ, "PROMPTOPS_ROOT": str(tmp_path), "PROMPTOPS_JOB_STALE_S": "soon"}
    out = subprocess.run([sys.executable, "-m", "promptops.cli.main", "jobs"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "PROMPTOPS_JOB_STALE_S: must be a number" in out.stderr


def test_adapter_dirs_follow_the_state_dir(tmp_path, clean_env):
    _write(tmp_path, {"state_dir": "var/state"})
    project = Project.load(tmp_path)
    assert project.adapter_dirs == [tmp_path.resolve() / "var" / "state" / "adapters"]


def test_project_caches_its_store_and_history_and_closes_them(tmp_path, clean_env):
    (tmp_path / "prompts").mkdir()
    with Project.load(tmp_path) as project:
        assert project.root == tmp_path.resolve()
        assert not (tmp_path / ".promptops").exists()  # the store opens on first use
        store = project.store
        assert project.store is store and (tmp_path / ".promptops" / "promptops.db").is_file()
        history = project.history
        assert project.history is history
        assert history.label_resolver is not None  # name@label goes through the deployments
        assert project.label_commit("greet", "production") is None
    assert project._store is None and project._history is None  # closed on exit
    assert project.history is not history  # a fresh one after close


def test_given_store_and_history_are_used_and_left_open(tmp_path, clean_env):
    closed = []

    class Handle:
        def close(self):
            closed.append(self)

    store, history = Handle(), Handle()
    project = Project(load_config(tmp_path), store=store, history=history)
    assert project.store is store and project.history is history
    project.close()
    assert closed == []


def test_using_passes_a_project_through_and_wraps_a_config(tmp_path, clean_env):
    project = Project.load(tmp_path)
    with using(project) as same:
        assert same is project
    with using(project.config) as temporary:
        assert temporary is not project and temporary.config is project.config
        history = temporary.history
    assert temporary._history is None  # the temporary project closed what it opened
    assert history is not None


def test_a_projects_adapters_reach_the_local_provider_whatever_the_cwd(tmp_path, clean_env):
    """``local/<base>+<job id>`` resolves under the adapter_dirs of the config the call passes."""
    pytest.importorskip("litellm")
    import asyncio

    from promptops.providers import complete, local
    from promptops.providers.batching import GenResult

    class Backend:
        models: list[str] = []

        def generate(self, model, batch, settings):
            self.models.append(model)
            return [GenResult("ok", 1, 1) for _ in batch]

    project = Project.load(tmp_path / "proj")
    (project.adapter_dirs[0] / "ft-1").mkdir(parents=True)
    local.set_backend(Backend())
    try:
        out = asyncio.run(complete("local/smollm2+ft-1", [{"role": "user", "content": "hi"}], {},
                                   config=project.config))
    finally:
        local.set_backend(None)
    assert out.text == "ok" and out.model == "local/smollm2+ft-1"
    assert Backend.models == [f"smollm2+{(project.adapter_dirs[0] / 'ft-1').resolve()}"]
