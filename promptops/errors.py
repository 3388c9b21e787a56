"""Typed errors with a fix hint.

Every error the library raises on purpose is a :class:`PromptopsError`. It carries a one-line
cause, where it came from (``file:line`` when known) and a hint that says how to fix it. The CLI
and the HTTP server map these once, at their edge, to an exit code or a status code.
"""

from __future__ import annotations


class PromptopsError(Exception):
    """Base class: ``message`` (the cause), ``where`` (file[:line]) and ``hint`` (the fix)."""

    exit_code = 2
    http_status = 400

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class ConfigError(PromptopsError):
    """promptops.yaml or an environment setting is wrong."""


class PromptFileError(PromptopsError):
    """A .prompt file cannot be parsed or validated."""


class SuiteError(PromptopsError):
    """A regression suite file cannot be parsed or validated."""


class RenderError(PromptopsError):
    """Variables do not fit a prompt (missing, unknown, wrong type) or the template failed."""

    http_status = 422


class NotFoundError(PromptopsError):
    """A prompt, version, label, run, call or job does not exist."""

    http_status = 404


class RefError(NotFoundError):
    """A git ref or version prefix does not resolve (or is ambiguous)."""


class ModelError(PromptopsError):
    """A model name is unknown or its provider is misconfigured."""


class StoreError(PromptopsError):
    """The database cannot be opened or migrated."""


class GateError(PromptopsError):
    """An eval gate refused an action (promotion, CI)."""

    exit_code = 1
    http_status = 409


class AuthError(PromptopsError):
    """Missing or insufficient API key."""

    http_status = 401
