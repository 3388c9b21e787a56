"""Custom model prices in promptops.yaml (models.<name>.price): validated, and applied on every call
path (compiled plan, plan on disk, litellm.acompletion) and to cached answers in eval reports."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml

from promptops.config import ModelPrice, load_config
from promptops.errors import ConfigError
from promptops.providers import litellm as provider
from promptops.testing.project import capital_rules, make_project

PRICE = {"input_per_million": 2.0, "output_per_million": 8.0}


def priced_project(tmp_path, fake_openai, price=PRICE, **extra):
    root = make_project(tmp_path / "repo", fake_openai.base_url, countries=["France", "Peru"], extra_config=extra)
    config = yaml.safe_load((root / "promptops.yaml").read_text())
    config["models"]["fake/a"]["price"] = price
    (root / "promptops.yaml").write_text(yaml.safe_dump(config))
    return root


def test_a_price_is_per_token_or_per_million_never_both(tmp_path):
    assert ModelPrice(input_per_million=2.0, output_per_token=1e-6).per_token() == (2e-6, 1e-6)
    for bad, words in (({"input_per_token": 1e-6}, "output_per_token or output_per_million"),
                       ({**PRICE, "input_per_token": 1e-6}, "not both"),
                       ({"input_per_million": -1, "output_per_million": 1}, ">= 0"),
                       ({**PRICE, "cached_per_million": 1}, "unknown key")):
        (tmp_path / "promptops.yaml").write_text(yaml.safe_dump({"models": {"m": {"price": bad}}}))
        with pytest.raises(ConfigError, match=words):
            load_config(tmp_path)


@pytest.mark.parametrize("direct", [True, False], ids=["litellm_direct", "acompletion"])
def test_complete_prices_an_unpriced_model(tmp_path, fake_openai, direct):
    root = priced_project(tmp_path, fake_openai, litellm_direct=direct)
    fake_openai.configure(rules=capital_rules())
    config = load_config(root)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    done = asyncio.run(provider.complete("fake/a", messages, {"max_tokens": 5}, config=config))
    assert done.text == "Paris" and done.prompt_tokens > 0
    assert done.cost_usd == pytest.approx(done.prompt_tokens * 2e-6 + done.completion_tokens * 8e-6)
    config.models["fake/a"].price = None  # litellm itself has no price for it
    assert asyncio.run(provider.complete("fake/a", messages, {"max_tokens": 5}, config=config)).cost_usd is None


def test_a_plan_on_disk_is_priced_too(tmp_path, fake_openai, monkeypatch):
    from promptops.providers import plancache

    root = priced_project(tmp_path, fake_openai)
    fake_openai.configure(rules=capital_rules())
    config = load_config(root)
    # a stored plain pass-through plan without prices, as plancache replays it in a fresh process
    disk = plancache.DiskPlan(url=f"{fake_openai.base_url}/chat/completions", model="a", optional_params={},
                              headers={"Authorization": "Bearer not-a-secret", "Content-Type": "application/json"},
                              prices=None)
    monkeypatch.setattr(plancache, "lookup", lambda *a, **k: disk)
    monkeypatch.setattr(provider, "_LITELLM", None)
    monkeypatch.setattr(provider, "setup_litellm", lambda *a, **k: pytest.fail("litellm imported"))
    done = asyncio.run(provider.complete("fake/a", [{"role": "user", "content": "What is the capital of Peru?"}],
                                         {}, config=config))
    assert done.text == "Lima" and fake_openai.count() == 1
    assert done.cost_usd == pytest.approx(done.prompt_tokens * 2e-6 + done.completion_tokens * 8e-6)


def test_eval_reports_cost_at_the_price_and_reprices_cached_answers(tmp_path, fake_openai, cli):
    root = make_project(tmp_path / "repo", fake_openai.base_url, countries=["France", "Peru"])
    fake_openai.configure(rules=capital_rules())
    cli("eval", "-q", "--json", "r.json", cwd=root)
    assert json.loads((root / "r.json").read_text())["results"][0]["cost_usd"] == 0  # unknown: summed as 0
    config = yaml.safe_load((root / "promptops.yaml").read_text())
    config["models"]["fake/a"]["price"] = {"input_per_token": 0.001, "output_per_token": 0.002}
    (root / "promptops.yaml").write_text(yaml.safe_dump(config))
    out = cli("eval", "--json", "r.json", cwd=root, env={"COLUMNS": "80"})  # every answer cached
    summary = json.loads((root / "r.json").read_text())["results"][0]
    assert summary["cached"] == 2
    expected = summary["prompt_tokens"] * 0.001 + summary["completion_tokens"] * 0.002
    assert summary["cost_usd"] == pytest.approx(expected) and expected > 0
    assert f"${expected:.4f}" in out.stdout
