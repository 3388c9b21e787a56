"""promptops.Client: against a real server (uvicorn on a free port), and its cache semantics
(TTL, stale-while-refresh with one merged refresh, fallback only when unreachable) against a
scripted transport."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from promptops import Client, deploy
from promptops.client import ServerUnreachable
from promptops.config import load_config
from promptops.errors import AuthError, NotFoundError, RenderError
from promptops.providers import setup_litellm
from promptops.server import create_app
from promptops.server.testing import free_port, running
from promptops.store import db, open_store
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import capital_rules, make_project

PROMPT = """---
name: greet
model: fake/a
params: {{temperature: 0}}
input: {{who: string}}
---
system:
{system}
user:
Say hello to {{{{ who }}}}.
"""


# ---------------------------------------------------------------- against the real server


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with FakeOpenAI(rules=capital_rules()) as fake:
        root = make_project(tmp_path_factory.mktemp("client"), fake.base_url)
        config = load_config(root)
        store = open_store(config)
        deploy.promote(config, "capital@HEAD", "production", force=True, reason="client tests", store=store)
        write, _ = store.create_api_key("write")
        setup_litellm()  # seconds, once per process: not inside a request's timeout
        with running(create_app(config, store=store, cache_ttl=0)) as url:
            yield url, write
    db.dispose_engines()


def test_get_render_complete_feedback(live):
    url, key = live
    with Client(url, key=key) as client:
        prompt = client.get("capital")
        assert prompt.label == "production" and prompt.model == "fake/a" and not prompt.is_fallback
        messages = prompt.render(country="Peru")
        assert messages == client.render("capital", {"country": "Peru"})  # same sandbox, same messages
        with pytest.raises(RenderError):
            prompt.render(city="Lima")
        assert client.get("capital", version=prompt.version[:8]).version == prompt.version
        result = client.complete("capital", {"country": "Kenya"})
        assert result.output == "Nairobi" and result.version == prompt.version and len(result.call_id) == 32
        fb = client.feedback(result.call_id, score=1, comment="correct")
        assert fb["call_id"] == result.call_id and fb["score"] == 1.0
        calls = client.calls(prompt="capital", has_feedback=True)
        assert [c["id"] for c in calls] == [result.call_id]


def test_errors_are_typed(live):
    url, _ = live
    with Client(url) as client:
        with pytest.raises(NotFoundError):
            client.get("nope", fallback="never used for a 404")
        with pytest.raises(AuthError) as err:
            client.complete("capital", {"country": "Peru"})
        assert err.value.http_status == 401
        with pytest.raises(RenderError):
            client.render("capital", {"country": 1})


# ---------------------------------------------------------------- cache semantics, scripted server


class Scripted:
    """A fake promptops server at the transport level: counts fetches, can be slow or down."""

    def __init__(self) -> None:
        self.system = "Be brief."
        self.delay = 0.0
        self.down = False
        self.fetches = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.fetches += 1
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        name = request.url.path.rsplit("/", 1)[-1]
        if name != "greet":
            return httpx.Response(404, json={"error": f"prompt '{name}' not found", "where": None, "hint": None})
        content = PROMPT.format(system=self.system)
        version = f"v-{abs(hash(self.system)) % 10**8:08d}"
        return httpx.Response(200, json={"name": "greet", "version": version, "hash": version, "label": "production",
                                         "model": "fake/a", "params": {"temperature": 0}, "content": content,
                                         "messages": [], "inputs": {}})


@pytest.fixture()
def scripted():
    server = Scripted()
    clients = []

    def make(**kw) -> Client:
        client = Client("http://promptops.test", transport=httpx.MockTransport(server), **kw)
        clients.append(client)
        return client

    yield server, make
    for c in clients:
        c.close()


def test_cached_within_ttl(scripted):
    server, make = scripted
    client = make(ttl=60)
    first = client.get("greet")
    for _ in range(50):
        assert client.get("greet") is first
    assert server.fetches == 1
    assert first.render(who="Ann")[-1] == {"role": "user", "content": "Say hello to Ann."}


def test_stale_entry_served_at_once_while_one_refresh_runs(scripted):
    server, make = scripted
    client = make(ttl=0.05)
    old = client.get("greet")
    time.sleep(0.1)  # now stale
    server.system, server.delay = "Be warm.", 0.5
    results, times = [], []

    def get() -> None:
        start = time.monotonic()
        results.append(client.get("greet"))
        times.append(time.monotonic() - start)

    threads = [threading.Thread(target=get) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is old for r in results)  # the stale entry, at once
    assert max(times) < 0.3
    deadline = time.monotonic() + 5
    while client.get("greet") is old and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.fetches == 2  # twenty stale reads, one refresh
    fresh = client.get("greet")
    assert fresh.version != old.version and "Be warm." in fresh.content


def test_concurrent_first_fetches_are_merged(scripted):
    server, make = scripted
    server.delay = 0.2
    client = make()
    results = []
    threads = [threading.Thread(target=lambda: results.append(client.get("greet"))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.fetches == 1 and len({id(r) for r in results}) == 1


def test_failed_refresh_keeps_serving_the_stale_entry(scripted):
    server, make = scripted
    client = make(ttl=0.01, fallback="fallback text")
    old = client.get("greet")
    server.down = True
    time.sleep(0.05)
    for _ in range(5):
        result = client.get("greet")
        assert result is old and not result.is_fallback
        time.sleep(0.02)


def test_fallback_only_when_unreachable_on_first_fetch(scripted):
    server, make = scripted
    server.down = True
    client = make(fallback={"greet": "Hello {{ who }}!"})
    result = client.get("greet")
    assert result.is_fallback and result.version is None
    assert result.render(who="Bo") == [{"role": "user", "content": "Hello Bo!"}]
    server.down = False
    real = client.get("greet")  # a fallback is never cached: the next call asks the server
    assert not real.is_fallback and real.version
    with pytest.raises(NotFoundError):
        client.get("other")  # reachable and says 404: no fallback for that


def test_fallback_forms_and_no_fallback(scripted):
    server, make = scripted
    server.down = True
    client = make()
    with pytest.raises(ServerUnreachable):
        client.get("greet")
    as_messages = client.get("greet", fallback=[{"role": "system", "content": "Be kind."},
                                                {"role": "user", "content": "Hi {{ who }}"}])
    assert as_messages.is_fallback and as_messages.render(who="Cy")[1]["content"] == "Hi Cy"
    as_file = client.get("greet", fallback=PROMPT.format(system="Offline copy."))
    assert as_file.is_fallback and as_file.model == "fake/a"
    assert as_file.render(who="Di")[0]["content"] == "Offline copy."


def test_unreachable_real_socket_uses_fallback():
    with Client(f"http://127.0.0.1:{free_port()}", timeout=2, fallback="Hello {{ who }}") as client:
        result = client.get("greet")
        assert result.is_fallback and result.render(who="Ed")[0]["content"] == "Hello Ed"
