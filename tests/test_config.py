"""promptops.yaml: defaults, validation errors naming the key, environment override."""

import pytest

from promptops.config import load_config
from promptops.errors import ConfigError


def test_defaults_without_a_file(tmp_path):
    cfg = load_config(tmp_path)
    assert cfg.default_model == "local/smollm2" and cfg.concurrency == 50
    assert cfg.db_url() == f"sqlite:///{(tmp_path / '.promptops' / 'promptops.db').as_posix()}"
    assert cfg.model_options("anything").api_base is None


def test_values_and_env_override(tmp_path, monkeypatch):
    (tmp_path / "promptops.yaml").write_text(
        "models:\n  gpt:\n    model: openai/gpt-4o-mini\n    api_key_env: MY_KEY\n    concurrency: 7\n"
        "environments:\n  production: {min_score: 0.9}\nci: {alpha: 0.01}\ndatabase_url: sqlite:///x.db\n")
    cfg = load_config(tmp_path)
    assert cfg.model_options("gpt").concurrency == 7 and cfg.models["gpt"].api_key_env == "MY_KEY"
    assert cfg.environments["production"].min_score == 0.9 and cfg.ci.alpha == 0.01
    assert cfg.db_url() == "sqlite:///x.db"
    monkeypatch.setenv("PROMPTOPS_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert load_config(tmp_path).db_url() == "postgresql+psycopg://u@h/db"  # read when the config loads


@pytest.mark.parametrize("text, fragment", [
    ("colour: red\n", "colour: unknown key"),
    ("concurrency: 0\n", "concurrency: must be >= 1"),
    ("models:\n  a: {concurrency: many}\n", "models.a.concurrency: must be an integer"),
    ("models:\n  a: {flavour: x}\n", "models.a.flavour: unknown key"),
    ("environments:\n  prod: {min_score: 1.5}\n", "environments.prod.min_score: must be <= 1"),
    ("server: {require_auth: maybe}\n", "server.require_auth: must be true or false"),
    ("ci: {fail_on: regression}\n", "ci.fail_on: must be a list"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("models: [\n", "invalid YAML"),
])
def test_errors_name_the_key(tmp_path, text, fragment):
    (tmp_path / "promptops.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert fragment in info.value.message and "promptops.yaml" in info.value.where
