"""The fake OpenAI-compatible server: rules, latency, error injection, counts, key check."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from promptops.testing import FakeOpenAI
from promptops.testing.fake_openai import _load_rules


def chat(client: httpx.Client, content: str, model: str = "m", **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "system", "content": "be brief"},
                                         {"role": "user", "content": content}], **extra}
    return client.post("/chat/completions", json=body)


@pytest.fixture
def server():
    with FakeOpenAI() as srv:
        yield srv


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.base_url, timeout=5) as c:
        yield c


def test_openai_shape_and_echo(server, client):
    r = chat(client, "hello world")
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "m"
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "hello world"}
    assert choice["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["completion_tokens"] == 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")


def test_rules_per_model_star_default_and_groups(server, client):
    server.configure(rules={"a": [(r"capital of (\w+)", r"capital=\1")],
                            "*": [(r"sentiment", "positive")]},
                     default="I don't know")
    assert chat(client, "capital of France?", model="a").json()["choices"][0]["message"]["content"] \
        == "capital=France"
    assert chat(client, "capital of France?", model="b").json()["choices"][0]["message"]["content"] \
        == "I don't know"
    assert chat(client, "the sentiment", model="a").json()["choices"][0]["message"]["content"] == "positive"


def test_callable_rules(server, client):
    server.configure(rules=lambda model, messages: f"{model}:{len(messages)}")
    assert chat(client, "x", model="q").json()["choices"][0]["message"]["content"] == "q:2"


def test_stop_and_max_tokens(client):
    r = chat(client, "one two three four", stop=["three"]).json()
    assert r["choices"][0]["message"]["content"] == "one two "
    r = chat(client, "one two three four", max_tokens=2).json()
    assert r["choices"][0]["message"]["content"] == "one two"
    assert r["choices"][0]["finish_reason"] == "length"


def test_stream_answer(client):
    r = chat(client, "hi", stream=True, stream_options={"include_usage": True})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in r.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[0])["choices"][0]["delta"]["content"] == "hi"
    assert json.loads(events[-2])["usage"]["completion_tokens"] == 1


def test_latency_fixed_and_per_model(server, client):
    server.configure(latency=0.2, model_latency={"fast": 0.0})
    t = time.perf_counter()
    chat(client, "x", model="slow")
    assert time.perf_counter() - t >= 0.19
    t = time.perf_counter()
    chat(client, "x", model="fast")
    assert time.perf_counter() - t < 0.15


def test_error_rates_are_deterministic_by_seed():
    def statuses(seed):
        with FakeOpenAI(rate_429=0.3, rate_500=0.2, seed=seed) as srv, \
                httpx.Client(base_url=srv.base_url) as c:
            return [chat(c, f"q{i}").status_code for i in range(60)]

    first, again, other = statuses(1), statuses(1), statuses(2)
    assert first == again
    assert first != other
    assert {429, 500, 200} <= set(first)
    assert 5 <= first.count(429) <= 35


def test_error_bodies_and_stats(server, client):
    server.configure(rate_429=1.0)
    r = chat(client, "x")
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limit_error"
    server.configure(rate_429=0.0, rate_500=1.0)
    assert chat(client, "x").status_code == 500
    stats = client.get(server.base_url.replace("/v1", "") + "/stats").json()
    assert stats["by_status"] == {"429": 1, "500": 1}
    assert stats["total"] == 2


def test_timeout_injection_hangs_past_client_timeout(server):
    server.configure(rate_timeout=1.0, hang=5.0)
    with httpx.Client(base_url=server.base_url, timeout=0.3) as c:
        t = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            chat(c, "x")
        assert time.perf_counter() - t < 2


def test_fail_first_n_of_each_distinct_request(server, client):
    server.configure(fail_first=2, fail_status=503)
    assert [chat(client, "a").status_code for _ in range(3)] == [503, 503, 200]
    assert chat(client, "b").status_code == 503  # counted per distinct request
    assert server.count(content="a") == 3


def test_counts_and_reset(server, client):
    for i in range(3):
        chat(client, "same", model="a")
    chat(client, "other", model="b")
    assert server.stats()["by_model"] == {"a": 3, "b": 1}
    assert server.stats()["by_content"] == {"same": 3, "other": 1}
    assert server.count() == 4 and server.count(model="a") == 3
    assert client.post(server.base_url.replace("/v1", "") + "/reset").status_code == 200
    assert server.stats()["total"] == 0


def test_api_key_required(server):
    server.configure(api_key="sk-right")
    with httpx.Client(base_url=server.base_url) as c:
        r = chat(c, "x")
        assert r.status_code == 401
        assert "sk-right" not in r.text
        r = c.post("/chat/completions", headers={"Authorization": "Bearer sk-right"},
                   json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 200


def test_bad_requests(server, client):
    assert client.post("/chat/completions", content=b"not json").status_code == 400
    assert client.get("/nope").status_code == 404
    server.configure(known_models=["m"])
    assert chat(client, "x", model="zzz").status_code == 404
    assert chat(client, "x", model="m").status_code == 200


def test_keep_alive_many_requests(server, client):
    for i in range(200):
        assert chat(client, f"q{i}").status_code == 200
    assert server.count() == 200


def test_rules_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"*": [["hi", "hello"]], "default": "?"}))
    rules = _load_rules(str(path))
    srv = FakeOpenAI(rules=rules)
    assert srv.answer("m", [{"role": "user", "content": "hi"}]) == "hello"
    assert srv.answer("m", [{"role": "user", "content": "x"}]) == "?"


async def test_many_concurrent_connections_are_served_together():
    """1,000 connections in flight at 0.2 s latency finish in far less than 1,000 x 0.2 s."""
    import asyncio

    srv = FakeOpenAI(latency=0.2)
    await srv.start_async()
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body

    async def one() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(request * 2)  # two pipelined requests on one keep-alive connection
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        head2 = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        return head + head2

    try:
        t = time.perf_counter()
        heads = await asyncio.gather(*[one() for _ in range(1000)])
        elapsed = time.perf_counter() - t
        assert all(h.count(b"HTTP/1.1 200 OK") == 2 for h in heads)
        assert srv.count() == 2000
        assert elapsed < 20
    finally:
        await srv.stop_async()
