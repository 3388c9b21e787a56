"""The shared helpers in promptops._util: formatters, atomic writes, secrets."""

from __future__ import annotations

import os
import re

import pytest

from promptops._util import fmt
from promptops._util.fs import atomic_write, publish_dir
from promptops._util.secrets import MASK, redact, secrets_of
from promptops.config import Config, ModelOptions

# -- fmt -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, want", [
    (lambda: fmt.pct(None), "–"),
    (lambda: fmt.pct(0.8125), "81.2%"),
    (lambda: fmt.pct(1.0), "100.0%"),
    (lambda: fmt.pct(0.8, 0), "80%"),
    (lambda: fmt.pts(None), "–"),
    (lambda: fmt.pts(0.05), "+5.0"),
    (lambda: fmt.pts(-0.05), "−5.0"),  # a typographic minus, not a hyphen
    (lambda: fmt.pts(-0.0004), "0.0"),
    (lambda: fmt.pts(0.0), "0.0"),
    (lambda: fmt.ms(None), "–"),
    (lambda: fmt.ms(812.4), "812 ms"),
    (lambda: fmt.usd(None), "–"),
    (lambda: fmt.usd(0.01234), "$0.0123"),
    (lambda: fmt.usd(0.0), "$0.0000"),
    (lambda: fmt.usd(0.0, 6, zero="$0 (local)"), "$0 (local)"),
    (lambda: fmt.usd(0.0000123, 6, zero="$0"), "$0.000012"),
    (lambda: fmt.p_value(None), "–"),
    (lambda: fmt.p_value(0.00001), "<0.0001"),
    (lambda: fmt.p_value(0.0049), "0.0049"),
    (lambda: fmt.p_value(0.0312), "0.03"),
    (lambda: fmt.p_value(1.0), "1.00"),
])
def test_formatters(call, want):
    assert call() == want


# -- fs --------------------------------------------------------------------------------------------


def test_atomic_write_text_and_bytes(tmp_path):
    target = tmp_path / "report.md"
    assert atomic_write(target, "première\n") == target
    assert target.read_text(encoding="utf-8") == "première\n"
    atomic_write(str(target), b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert os.listdir(tmp_path) == ["report.md"]  # no temporary left behind


def test_atomic_write_failure_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(target, "new \udc80", encoding="utf-8")  # a lone surrogate cannot be encoded
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["out.json"]
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "x.txt", "x")  # the parent must exist


def test_atomic_write_keeps_the_usual_permissions(tmp_path):
    target = tmp_path / "shared.txt"
    target.write_text("plain")
    usual = target.stat().st_mode
    atomic_write(target, "atomic")
    assert target.stat().st_mode == usual  # not mkstemp's 0600


def test_publish_dir_replaces_a_folder_whole(tmp_path):
    target = tmp_path / "adapter"
    for content in ("one", "two"):
        staged = tmp_path / "adapter.tmp"
        staged.mkdir()
        (staged / "weights").write_text(content)
        assert publish_dir(staged, target) == target
        assert (target / "weights").read_text() == content
    assert sorted(os.listdir(tmp_path)) == ["adapter"]  # neither the staged folder nor .old is left


# -- secrets ---------------------------------------------------------------------------------------

KEY = "sk-live-0123456789abcdefghijklmnopqrstuvwxyz"


def test_secrets_of_one_rule():
    env = {"OPENAI_API_KEY": KEY, "ACME_API_KEY": "acme-secret", "MY_KEY": "configured-key",
           "GITHUB_TOKEN": "ghp_token", "HF_TOKEN": "xyz", "UNRELATED": "not-a-secret"}
    cfg = Config(models={"m": ModelOptions(model="openai/x", api_key_env="MY_KEY")})
    got = secrets_of(cfg, env=env, extra=["abc", None, ""])
    # well-known, any *_API_KEY, the config's api_key_env, and the caller's own; short env values are not
    assert got == [KEY, "configured-key", "acme-secret", "ghp_token", "abc"]
    assert "configured-key" not in secrets_of(None, env=env)


def test_redact_longest_first_and_none():
    assert redact(None, [KEY]) is None
    text = f"key {KEY} and its prefix sk-live-0123"
    assert redact(text, ["sk-live-0123", KEY]) == f"key {MASK} and its prefix {MASK}"


def _leaks(text: str, secret: str, at_least: int = 4) -> list[str]:
    """Every piece of ``secret`` of ``at_least`` characters that is still in ``text``."""
    return [secret[i:j] for i in range(len(secret)) for j in range(i + at_least, len(secret) + 1)
            if secret[i:j] in text]


def test_provider_error_scrubs_the_key_before_cutting_it_to_500(monkeypatch):
    """Regression: the message was cut to 500 characters first, so a key across position 500 kept
    its first part (the scrub looked for the whole key and did not find it)."""
    import litellm

    from promptops.providers.errors import to_provider_error as _to_provider_error

    monkeypatch.setenv("ACME_API_KEY", KEY)
    prefix = len(str(litellm.BadRequestError(message="", model="m", llm_provider="openai").message))
    for inside in (1, 4, 10, 20, 40):  # characters of the key before position 497 (the cut, then "...")
        message = "x" * (497 - inside - prefix) + KEY + " and more text after the key"
        exc = litellm.BadRequestError(message=message, model="m", llm_provider="openai")
        assert str(exc.message).index(KEY) == 497 - inside
        for secret in (KEY, None):  # the call's own key, or only an environment one
            err = _to_provider_error(exc, "m", secret)
            assert not _leaks(str(err), KEY), (inside, secret)
            assert not _leaks(err.message, KEY), (inside, secret)
            assert len(err.message) <= 500


def test_github_error_message_scrubs_before_cutting():
    from promptops.ci.github import _describe

    class Response:
        status_code = 422

        def json(self):
            return {"message": "y" * 190 + "ghp_" + "T" * 36}

    token = "ghp_" + "T" * 36
    text = _describe(Response(), "POST", "https://api.github.com/repos/o/r/issues/1/comments",
                     "https://api.github.com", [token])
    assert not _leaks(text, token) and re.search(r"y{190}\*\*\*", text)
