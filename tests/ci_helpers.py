"""Helpers for the CI tests: answers that depend on the system prompt, branches, a fake GitHub API."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .helpers import capital_rules, git

GOOD = "Answer with the city name only."
# a system prompt containing one of these words makes the fake model wrong on those countries
SLOPPY = {"sloppy": {"France", "Spain", "Italy", "Germany", "Japan", "Canada", "Egypt", "Peru", "Kenya",
                     "Norway", "Chile", "Cuba"},
          "terse": {"Ghana", "Iran"},
          "vague": {"Oman"}}


def system_rules(markers: dict[str, set[str]] = SLOPPY):
    """Fake-server answers: the right capital unless a marker word of the system prompt says otherwise."""

    def answer(model, messages):
        system = " ".join(m["content"] for m in messages if m.get("role") == "system").lower()
        wrong = set().union(*(countries for word, countries in markers.items() if word in system))
        return capital_rules(wrong)(model, messages)

    return answer


def set_system(root: Path, system: str, name: str = "capital") -> None:
    path = root / "prompts" / f"{name}.prompt"
    text = path.read_text()
    current = re.search(r"^system:\n(.*?)\nuser:", text, re.S | re.M).group(1)
    path.write_text(text.replace(f"system:\n{current}\nuser:", f"system:\n{system}\nuser:"))


def branch(root: Path, name: str) -> None:
    git(root, "checkout", "-q", "-b", name)


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


class FakeGitHub:
    """Enough of GitHub's issue-comment REST API for --post: list (paginated), create, update.

    ``fail`` maps a method to a status to answer with; ``page_size`` is small so that listing
    really follows the Link header. Records every request (method, path, authorization header).
    """

    def __init__(self, repo: str = "acme/prompts", number: int = 7, page_size: int = 2):
        self.repo, self.number, self.page_size = repo, number, page_size
        self.comments: list[dict] = []
        self.requests: list[tuple[str, str, str]] = []
        self.fail: dict[str, int] = {}
        self._next_id = 1000
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, payload, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                with fake._lock:
                    fake.requests.append((method, self.path, self.headers.get("Authorization", "")))
                    status, payload, headers = fake._route(method, self.path, body, self.headers)
                self._send(status, payload, headers)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PATCH(self):
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self, tmp_path: Path, token: str = "ghs_test_token_123456") -> dict[str, str]:
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": self.number}}))
        return {"GITHUB_TOKEN": token, "GITHUB_REPOSITORY": self.repo, "GITHUB_EVENT_PATH": str(event),
                "GITHUB_API_URL": self.url}

    def add(self, body: str) -> int:
        self._next_id += 1
        self.comments.append({"id": self._next_id, "body": body, "html_url": f"{self.url}/c/{self._next_id}"})
        return self._next_id

    def _route(self, method: str, path: str, body: dict, headers) -> tuple[int, object, dict]:
        if method in self.fail:
            status = self.fail[method]
            return status, {"message": {401: "Bad credentials", 403: "Resource not accessible by integration",
                                        404: "Not Found", 422: "Validation Failed"}.get(status, "error")}, {}
        if not headers.get("Authorization", "").startswith("Bearer "):
            return 401, {"message": "Requires authentication"}, {}
        base = f"/repos/{self.repo}/issues"
        route, _, query = path.partition("?")
        if route == f"{base}/{self.number}/comments" and method == "GET":
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            page = int(params.get("page", 1))
            chunk = self.comments[(page - 1) * self.page_size: page * self.page_size]
            headers_out = {}
            if page * self.page_size < len(self.comments):
                headers_out["Link"] = f'<{self.url}{route}?per_page=100&page={page + 1}>; rel="next"'
            return 200, chunk, headers_out
        if route == f"{base}/{self.number}/comments" and method == "POST":
            self.add(body["body"])
            return 201, self.comments[-1], {}
        m = re.fullmatch(rf"{base}/comments/(\d+)", route)
        if m and method == "PATCH":
            for comment in self.comments:
                if comment["id"] == int(m.group(1)):
                    comment["body"] = body["body"]
                    return 200, comment, {}
            return 404, {"message": "Not Found"}, {}
        return 404, {"message": "Not Found"}, {}

    def __enter__(self) -> "FakeGitHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
