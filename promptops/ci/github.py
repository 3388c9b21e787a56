"""Post (or update) the review comment on a pull request through the GitHub REST API.

Reads what GitHub Actions provides: ``GITHUB_TOKEN``, ``GITHUB_REPOSITORY`` (``owner/name``), the
pull request number from the event file at ``GITHUB_EVENT_PATH`` and the API base from
``GITHUB_API_URL`` (GitHub Enterprise; default ``https://api.github.com``). It lists the PR's
comments (all pages), updates the one holding the marker, or creates one.

Failures never raise: :func:`post_comment` returns a :class:`PostOutcome` with a one-line reason,
so the caller reports it and keeps the eval's verdict and exit code. The token is sent only to the
API base and never appears in a message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .._util.secrets import redact, secrets_of
from .comment import MARKER

DEFAULT_API = "https://api.github.com"
_HINTS = {
    401: "GitHub rejected the token (401): check GITHUB_TOKEN",
    403: "no permission to comment (403): give the workflow 'permissions: pull-requests: write'; "
         "pull requests from forks get a read-only token",
    404: "repository or pull request not found (404): check GITHUB_REPOSITORY and the PR number",
    422: "GitHub refused the comment (422)",
}


@dataclass
class PostOutcome:
    ok: bool
    action: str | None = None  # created or updated
    comment_id: int | None = None
    url: str | None = None
    error: str | None = None


class _Failure(Exception):
    pass


def pr_number(env: Mapping[str, str]) -> int | None:
    """The pull request number: ``PROMPTOPS_PR_NUMBER``, else the Actions event file."""
    if env.get("PROMPTOPS_PR_NUMBER", "").strip().isdigit():
        return int(env["PROMPTOPS_PR_NUMBER"])
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in ("pull_request", "issue"):
        number = (event.get(key) or {}).get("number") if isinstance(event, dict) else None
        if isinstance(number, int):
            return number
    number = event.get("number") if isinstance(event, dict) else None
    return number if isinstance(number, int) else None


def post_comment(body: str, *, env: Mapping[str, str] | None = None, timeout: float = 20.0,
                 marker: str = MARKER) -> PostOutcome:
    """Create or update this tool's comment on the current pull request."""
    env = os.environ if env is None else env
    token = env.get("GITHUB_TOKEN", "").strip()
    repo = env.get("GITHUB_REPOSITORY", "").strip()
    api = (env.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")
    if not token:
        return PostOutcome(False, error="GITHUB_TOKEN is not set (pass secrets.GITHUB_TOKEN in the step's env)")
    if repo.count("/") != 1:
        return PostOutcome(False, error="GITHUB_REPOSITORY is not set to owner/name")
    number = pr_number(env)
    if number is None:
        return PostOutcome(False, error="no pull request number: run on a pull_request event "
                                        "(GITHUB_EVENT_PATH) or set PROMPTOPS_PR_NUMBER")
    secrets = secrets_of(env=env, extra=[token])
    try:
        return _post(body, token=token, repo=repo, api=api, number=number, timeout=timeout, marker=marker,
                     secrets=secrets)
    except _Failure as exc:
        return PostOutcome(False, error=redact(str(exc), secrets))


def _post(body: str, *, token: str, repo: str, api: str, number: int, timeout: float, marker: str,
          secrets: list[str]) -> PostOutcome:
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "promptops-ci"}
    with httpx.Client(headers=headers, timeout=timeout, follow_redirects=False) as client:
        def call(method: str, url: str, **kwargs) -> httpx.Response:
            if not url.startswith(api + "/"):  # never send the token anywhere else
                raise _Failure(f"GitHub pointed to an unexpected URL outside {api}")
            try:
                response = client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise _Failure(f"cannot reach the GitHub API at {api}: {type(exc).__name__}: {exc}") from None
            if response.status_code >= 400:
                raise _Failure(_describe(response, method, url, api, secrets))
            return response

        url: str | None = f"{api}/repos/{repo}/issues/{number}/comments?per_page=100"
        existing = None
        while url and existing is None:
            response = call("GET", url)
            try:
                comments = response.json()
            except ValueError:
                raise _Failure("GitHub answered the comment list with something that is not JSON") from None
            for comment in comments if isinstance(comments, list) else []:
                if isinstance(comment, dict) and marker in str(comment.get("body") or ""):
                    existing = comment
                    break
            url = response.links.get("next", {}).get("url")
        if existing is not None:
            response = call("PATCH", f"{api}/repos/{repo}/issues/comments/{int(existing['id'])}", json={"body": body})
            action = "updated"
        else:
            response = call("POST", f"{api}/repos/{repo}/issues/{number}/comments", json={"body": body})
            action = "created"
        data = response.json() if response.content else {}
        return PostOutcome(True, action=action, comment_id=data.get("id"), url=data.get("html_url"))


def _describe(response, method: str, url: str, api: str, secrets: list[str]) -> str:
    status = response.status_code
    try:  # scrubbed before the cut: a token across it would survive in part
        message = redact(str(response.json().get("message", "")), secrets)[:200]
    except (ValueError, AttributeError):
        message = ""
    text = _HINTS.get(status, f"GitHub answered {status}")
    path = url[len(api):].split("?")[0]
    detail = f": {message}" if message else ""
    return f"{text}{detail} ({method} {path})"
