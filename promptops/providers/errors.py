"""Provider failures: the one set of error kinds, which of them are worth retrying, and the
mapping of litellm / OpenAI SDK exceptions onto them.

litellm is imported only inside :func:`classify`, when there is an exception to classify."""

from __future__ import annotations

import datetime
import email.utils

from .._util.secrets import redact, secrets_of
from ..errors import ModelError

__all__ = ["KINDS", "RETRYABLE", "ProviderError", "classify", "to_provider_error", "retry_after_of"]

KINDS = ("rate_limit", "server", "timeout", "auth", "bad_request", "not_found", "connection", "unknown")
#: the kinds a second try can cure; the runner's retry loop and ProviderError.retryable both use it
RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection"})


class ProviderError(Exception):
    """A model call failed. ``kind`` is one of :data:`KINDS`; ``retryable`` says whether to try again;
    ``retry_after``: the seconds the provider's ``Retry-After`` (or ``retry-after-ms``) header asked for.

    The message never contains the API key (it is scrubbed when the provider echoes it)."""

    def __init__(self, kind: str, message: str, retryable: bool | None = None, *,
                 status_code: int | None = None, model: str | None = None, hint: str | None = None,
                 retry_after: float | None = None):
        self.kind = kind if kind in KINDS else "unknown"
        self.retry_after = retry_after  # seconds the provider asked to wait (Retry-After), if it did
        self.retryable = (self.kind in RETRYABLE) if retryable is None else retryable
        self.status_code = status_code
        self.model = model
        self.hint = hint
        self.message = message
        text = f"{model}: {kind}: {message}" if model else f"{kind}: {message}"
        if hint:
            text += f" (hint: {hint})"
        super().__init__(text)


def classify(exc: BaseException) -> str:
    """The :data:`KINDS` entry for a litellm / OpenAI SDK exception."""
    import litellm.exceptions as E

    status = getattr(exc, "status_code", None)
    if isinstance(exc, E.RateLimitError):
        kind = "rate_limit"
    elif isinstance(exc, E.Timeout):  # before APIConnectionError: openai's timeout subclasses it
        kind = "timeout"
    elif isinstance(exc, (E.AuthenticationError, E.PermissionDeniedError)):
        kind = "auth"
    elif isinstance(exc, E.NotFoundError):
        kind = "not_found"
    elif isinstance(exc, E.ContextWindowExceededError | E.ContentPolicyViolationError
                    | E.UnsupportedParamsError | E.UnprocessableEntityError):
        kind = "bad_request"
    elif isinstance(exc, (E.InternalServerError, E.ServiceUnavailableError, E.BadGatewayError)):
        kind = "server"
    elif isinstance(exc, E.BadRequestError):
        kind = "bad_request"
    elif isinstance(exc, E.APIConnectionError):
        kind = "connection"
    elif isinstance(exc, ModelError):
        kind = "not_found"
    elif isinstance(status, int):
        kind = _kind_for_status(status)
    else:
        kind = "unknown"
    # litellm reports a refused/failed connection as InternalServerError("... Connection error.") (the
    # OpenAI SDK's route) or InternalServerError("... Cannot connect to host ...") (its own HTTP handler)
    if kind == "server" and any(s in str(exc).lower() for s in ("connection error", "cannot connect to host")):
        kind = "connection"
    # litellm raises BadRequestError for provider/model names it cannot route
    if kind == "bad_request" and "LLM Provider NOT provided" in str(exc):
        kind = "not_found"
    return kind


def to_provider_error(exc: BaseException, model: str, secret: str | None) -> ProviderError:
    """A ProviderError for ``exc``: its kind, a one-line message without ``secret``, a hint."""
    kind = classify(exc)
    status = getattr(exc, "status_code", None)
    raw = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    message = _short(_scrub(raw, secret))  # scrubbed before the cut: a key across it would survive in part
    hint = None
    if kind == "auth":
        hint = "check the API key (promptops.yaml models.<name>.api_key_env, or the provider's env var)"
    elif kind == "not_found":
        hint = "check the model name (litellm's '<provider>/<model>' form) and api_base"
    return ProviderError(kind, message, status_code=status if isinstance(status, int) else None,
                         model=model, hint=hint, retry_after=retry_after_of(exc))


def retry_after_of(exc: BaseException) -> float | None:
    """The wait a provider error's headers ask for, in seconds: ``retry-after-ms``, else
    ``retry-after`` (seconds or an HTTP date); None without either (or with a value that is neither)."""
    for source in (getattr(exc, "litellm_response_headers", None), getattr(getattr(exc, "response", None), "headers", None),
                   getattr(exc, "headers", None)):
        if not source:
            continue
        try:
            headers = {str(k).lower(): str(v) for k, v in dict(source).items()}
        except (TypeError, ValueError):
            continue
        if "retry-after-ms" in headers:
            try:
                return max(0.0, float(headers["retry-after-ms"]) / 1000.0)
            except ValueError:
                pass
        if "retry-after" in headers:
            return _seconds(headers["retry-after"])
    return None


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def _kind_for_status(status: int) -> str:
    if status == 429:
        return "rate_limit"
    if status in (408, 504):
        return "timeout"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if 400 <= status < 500:
        return "bad_request"
    if status >= 500:
        return "server"
    return "unknown"


def _scrub(text: str, secret: str | None) -> str:
    """Remove the call's key, and every other secret (:func:`secrets_of`), from an error message."""
    return redact(text, secrets_of(extra=[secret]))


def _short(text: str) -> str:
    """One line: litellm's messages repeat the provider name and can run to many lines."""
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "..."
