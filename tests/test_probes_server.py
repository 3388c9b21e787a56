"""Probes of the HTTP edge (issue "Reliability and security", items 1, 14, 16, 17), kept as tests."""

from __future__ import annotations

import json

import pytest

from .test_server import auth, client, fake, project  # noqa: F401 - the shared module fixtures

JSON = {"Content-Type": "application/json"}


def _post(client, path: str, body: dict, key: str):  # noqa: F811
    # ASCII JSON with \u escapes, as JavaScript sends a string cut inside an emoji
    return client.post(path, content=json.dumps(body), headers={**auth(key), **JSON})


@pytest.mark.parametrize("path, body, field", [
    ("/v1/prompts/capital/complete", {"variables": {"country": "Pe\ud83dru"}}, "body.variables"),
    ("/v1/prompts/capital/complete", {"variables": {"country": "Peru"}, "metadata": {"k": "\ud800"}}, "body.metadata"),
    ("/v1/calls", {"prompt": "capital", "model": "m", "variables": {"country": "Peru"}, "output": "Li\udc00ma"},
     "body.call.output"),
])
def test_a_lone_surrogate_is_refused_at_the_edge_and_listings_keep_working(client, project, path, body, field):  # noqa: F811
    response = _post(client, path, body, project.write)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field and "surrogate" in response.json()["error"]
    assert client.get("/v1/calls", headers=auth(project.read)).status_code == 200
    assert client.get("/calls", headers=auth(project.read)).status_code == 200


def test_the_gateway_refuses_a_lone_surrogate_in_openai_shape(client, project):  # noqa: F811
    response = _post(client, "/v1/chat/completions",
                     {"model": "prompt:capital", "messages": [{"role": "user", "content": "x\ud800"}]}, project.write)
    assert response.status_code == 400 and "surrogate" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/prompts/capital/render", "/v1/prompts/capital/complete", "/v1/calls"])
def test_an_unparseable_body_is_422_naming_the_body(client, project, path):  # noqa: F811
    response = client.post(path, content=b'{"variables": {', headers={**auth(project.write), **JSON})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "body" and "not valid JSON" in response.json()["error"]


@pytest.mark.parametrize("query, field", [("since=99999-01-01", "query.since"), ("until=2026-13-01", "query.until"),
                                          ("since=abc", "query.since")])
def test_a_bad_since_or_until_names_its_own_field(client, project, query, field):  # noqa: F811
    response = client.get(f"/v1/calls?{query}", headers=auth(project.read))
    assert response.status_code == 422 and response.json()["field"] == field


def test_docs_load_nothing_from_another_origin(client):  # noqa: F811
    page = client.get("/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "http" not in page.text  # no CDN, no absolute URL at all
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/init.js"):
        assert asset in page.text
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 50, asset
    assert "/docs/assets/swagger-ui-bundle.js" not in client.get("/openapi.json").json()["paths"]


def test_health_says_whether_the_model_path_is_warm_and_ready_waits_for_it(client, monkeypatch):  # noqa: F811
    from promptops.providers import litellm as adapter

    monkeypatch.setattr(adapter, "_LITELLM", None)
    assert client.get("/health").json()["model_path"] == "cold"
    cold = client.get("/ready")
    assert cold.status_code == 503 and cold.json()["status"] == "warming"
    monkeypatch.setattr(adapter, "_LITELLM", object())
    assert client.get("/health").json()["model_path"] == "warm"
    warm = client.get("/ready")
    assert warm.status_code == 200 and warm.json()["status"] == "ok"


@pytest.mark.parametrize("ttl, works_after_revocation", [(5.0, True), (0.0, False)])
def test_a_revoked_key_works_for_at_most_key_ttl(project, ttl, works_after_revocation):  # noqa: F811
    """Documented: a server trusts a verified key for ``server.key_ttl`` seconds; 0 makes a
    revocation count from the next request."""
    import dataclasses

    from fastapi.testclient import TestClient

    from promptops.server import create_app

    config = dataclasses.replace(project.config, server=dataclasses.replace(project.config.server, key_ttl=ttl))
    c = TestClient(create_app(config, store=project.store, cache_ttl=0))
    plain, row = project.store.create_api_key("read", f"ttl {ttl}")
    assert c.get("/v1/deployments", headers=auth(plain)).status_code == 200
    project.store.revoke_api_key(row.id)
    after = c.get("/v1/deployments", headers=auth(plain)).status_code
    assert after == (200 if works_after_revocation else 401)
