"""Canary labels end to end on a real git project (v1 of `capital` in production, v2 in staging):
the split and its stickiness, the gate, finish / abort / rollback with their git tags, the
comparison on feedback, the server (complete, the gateway, GET on the deployment) and the CLI.

Runs on SQLite, and on PostgreSQL too when ``PROMPTOPS_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient

from promptops import deploy
from promptops.deploy import canary
from promptops.errors import GateError, NotFoundError, RefError
from promptops.eval.stats import sample_size_two_proportions, two_proportion_z
from promptops.server import create_app
from promptops.testing.fake_openai import FakeOpenAI
from promptops.testing.pytest_plugin import CliInvoker

from .helpers import capital_rules, git, write_prompt
from .test_server import project_on_each_store

TAG = "promptops/capital/production"


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(rules=capital_rules(set())) as srv:
        yield srv


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def project(request, tmp_path_factory, fake):
    yield from project_on_each_store(request, tmp_path_factory, fake)


@pytest.fixture(scope="module")
def client(project) -> TestClient:
    return TestClient(create_app(project.config, store=project.store, cache_ttl=0))


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tag_message(project, tag: str = TAG) -> str:
    return git(project.root, "cat-file", "-p", tag)


# --------------------------------------------------------------------------- statistics and buckets


def test_two_proportion_z_and_sample_size():
    z, p = two_proportion_z(50, 100, 65, 100)  # pooled 0.575: se = sqrt(.575 * .425 * .02)
    assert z == pytest.approx(0.15 / math.sqrt(0.575 * 0.425 * 0.02)) and z == pytest.approx(2.1456, abs=1e-4)
    assert p == pytest.approx(0.0319, abs=1e-4)
    assert two_proportion_z(65, 100, 50, 100)[0] == pytest.approx(-z)
    assert two_proportion_z(0, 0, 3, 5) == (0.0, 1.0) and two_proportion_z(5, 5, 9, 9) == (0.0, 1.0)
    with pytest.raises(ValueError):
        two_proportion_z(6, 5, 1, 2)
    # the textbook figure: 0.5 vs 0.6 at alpha 0.05, power 0.8 needs about 388 per group
    assert sample_size_two_proportions(0.5, 0.6) == 388
    assert sample_size_two_proportions(0.7, 0.7) is None
    assert sample_size_two_proportions(0.5, 0.7) < sample_size_two_proportions(0.5, 0.6)


def test_a_user_is_sticky_and_the_share_is_the_percent():
    users = [f"user-{i}" for i in range(10_000)]
    picks = [canary.serves_canary(7, 20, u) for u in users]
    assert picks == [canary.serves_canary(7, 20, u) for u in users]  # sticky
    assert 1800 < sum(picks) < 2200
    assert sum(canary.serves_canary(8, 20, u) for u in users) != sum(picks) or \
        [canary.serves_canary(8, 20, u) for u in users] != picks  # a new canary draws afresh
    assert all(canary.serves_canary(7, 100 - 1e-9, u) for u in users[:50]) is True
    assert not any(canary.serves_canary(7, 0, u) for u in users[:50])
    # no user: a random side per request
    assert canary.serves_canary(7, 20, None, rng=lambda: 0.19) is True
    assert canary.serves_canary(7, 20, "", rng=lambda: 0.2) is False


# --------------------------------------------------------------------------- the library


def test_a_canary_needs_a_stable_side_a_valid_share_and_the_gate(project):
    cfg, store = project.config, project.store
    with pytest.raises(GateError, match="no deployment for a canary"):
        deploy.promote(cfg, f"capital@{project.v2}", "eu-canary-none", canary=10, store=store)
    for share in (0, 100, -5):
        with pytest.raises(RefError, match="out of range"):
            deploy.promote(cfg, f"capital@{project.v2}", "production", canary=share, store=store)
    with pytest.raises(GateError, match="nothing to canary"):
        deploy.promote(cfg, f"capital@{project.v1}", "production", canary=10, store=store)
    write_prompt(project.root, system="An unevaluated v3.")
    git(project.root, "commit", "-qam", "v3, never evaluated")
    with pytest.raises(GateError, match="no eval"):  # the eval gate applies to a canary as to any promotion
        deploy.promote(cfg, "capital@HEAD", "production", canary=10, store=store)
    assert deploy.current(cfg, "capital", "production", store=store).canary_percent is None


def test_start_compare_abort_finish_and_rollback(project):
    cfg, store = project.config, project.store
    stable = deploy.promote(cfg, f"capital@{project.v1}", "eu", store=store)
    start = deploy.promote(cfg, f"capital@{project.v2}", "eu", canary=25, reason="try v2", store=store)
    assert (start.canary_percent, start.canary_base, start.version) == (25, stable.id, project.v2)
    message = tag_message(project, "promptops/capital/eu")
    assert f"canary capital@{project.v2} in eu at 25%" in message
    assert f"the rest stays on deployment #{stable.id}" in message
    now = canary.split(cfg, "capital", "eu", store=store)
    assert (now.stable.id, now.canary.id, now.percent) == (stable.id, start.id, 25)
    with pytest.raises(GateError, match="running a canary"):  # one move at a time
        deploy.promote(cfg, f"capital@{project.v1}", "eu", force=True, model="fake/b", store=store)

    def log(side, good: bool, n: int) -> None:
        for _ in range(n):
            row = store.log_call(prompt="capital", version=side.version, model=side.model, env="eu",
                                 deployment_id=side.id, canary=side.id == start.id, output="x")
            store.add_feedback(row.id, score=1.0 if good else 0.0)

    store.log_call(prompt="capital", version=project.v2, model="fake/a", env="eu", output="unrated")
    log(stable, True, 3)
    log(start, False, 1)
    early = canary.compare(cfg, "capital", "eu", store=store)
    assert (early.stable.calls, early.stable.rated, early.stable.good) == (3, 3, 3)
    assert (early.canary.calls, early.canary.rated, early.canary.good) == (2, 1, 0)  # the unrated one by version
    # p is below 5% already, but 1 rated call is too few for the test: at least 10 a side, and the
    # canary gets a quarter of the traffic, so (10 - 1) / 0.25 more rated calls
    assert early.p_value < 0.05 and early.verdict == "not yet distinguishable"
    assert (early.needed_per_side, early.more_rated_calls) == (canary.MIN_RATED, 36)
    log(stable, True, 27)
    log(start, False, 20)
    late = canary.compare(cfg, "capital", "eu", store=store)
    assert late.verdict == "worse" and late.z < 0 and late.p_value < 0.05
    assert late.canary.high < late.stable.low  # the Wilson intervals part
    assert json.loads(json.dumps(late.to_dict()))["canary"]["rate"] == 0.0

    aborted = canary.abort(cfg, "capital", "eu", actor="ana", store=store)
    assert (aborted.version, aborted.rollback_of, aborted.canary_percent) == (project.v1, start.id, None)
    assert f"rollback-of: deployment #{start.id}" in tag_message(project, "promptops/capital/eu")
    assert canary.split(cfg, "capital", "eu", store=store).canary is None
    with pytest.raises(NotFoundError, match="no canary running"):
        canary.finish(cfg, "capital", "eu", store=store)
    with pytest.raises(NotFoundError, match="no canary running"):
        canary.abort(cfg, "capital", "eu", store=store)

    again = deploy.promote(cfg, f"capital@{project.v2}", "eu", canary=50, store=store)
    done = canary.finish(cfg, "capital", "eu", store=store)
    assert (done.version, done.canary_end, done.canary_percent, done.score) == (project.v2, again.id, None, again.score)
    assert f"ends-canary: deployment #{again.id}" in tag_message(project, "promptops/capital/eu")
    assert canary.split(cfg, "capital", "eu", store=store).stable.id == done.id
    # rollback after a finished canary returns to the version stable before it, not to the split
    back = deploy.rollback(cfg, "capital", "eu", store=store)
    assert (back.version, back.rollback_of) == (project.v1, done.id)
    assert canary.split(cfg, "capital", "eu", store=store).canary is None


# --------------------------------------------------------------------------- the server and the CLI


def test_the_server_splits_complete_and_the_gateway_per_user(project, client):
    cfg, store = project.config, project.store
    stable = deploy.current(cfg, "capital", "production", store=store)
    start = deploy.promote(cfg, f"capital@{project.v2}", "production", canary=30, store=store)
    users = [f"u{i}" for i in range(24)]
    expect = {u: canary.serves_canary(start.id, 30, u) for u in users}
    assert any(expect.values()) and not all(expect.values())
    for user in users:
        body = {"variables": {"country": "France"}, "user_id": user}
        answers = [client.post("/v1/prompts/capital/complete", json=body, headers=headers(project.write)).json()
                   for _ in range(2)]
        want = project.v2 if expect[user] else project.v1
        assert [a["version"] for a in answers] == [want, want]  # sticky
        assert answers[0]["canary"] is expect[user]
        call = store.get_call(answers[0]["call_id"])
        assert (call.version, call.canary, call.deployment_id) == (
            want, expect[user], start.id if expect[user] else stable.id)
    for user in users[:8]:
        r = client.post("/v1/chat/completions", headers=headers(project.write),
                        json={"model": "prompt:capital", "messages": [], "user": user,
                              "variables": {"country": "Japan"}})
        info = r.json()["promptops"]
        assert (info["version"], info["canary"]) == ((project.v2 if expect[user] else project.v1), expect[user])
        assert store.get_call(r.json()["id"]).canary is expect[user]
    # no user: either side; a GET of the prompt names the stable side
    anon = {client.post("/v1/prompts/capital/complete", json={"variables": {"country": "Peru"}},
                        headers=headers(project.write)).json()["version"] for _ in range(40)}
    assert anon == {project.v1, project.v2}
    assert client.get("/v1/prompts/capital", headers=headers(project.read)).json()["version"] == project.v1

    state = client.get("/v1/deployments/capital/production", headers=headers(project.read))
    assert state.status_code == 200, state.text
    state = state.json()
    assert (state["stable"]["id"], state["canary"]["id"], state["canary_percent"]) == (stable.id, start.id, 30)
    assert state["comparison"]["verdict"] == "not yet distinguishable"
    served = store.list_calls(prompt="capital", env="production", since=start.created_at, limit=10_000)
    assert state["comparison"]["canary"]["calls"] == sum(c.deployment_id == start.id for c in served) > 0
    missing = client.get("/v1/deployments/capital/nowhere", headers=headers(project.read))
    assert missing.status_code == 404

    # rollback while a canary runs is the abort: the stable side serves everyone again
    back = deploy.rollback(cfg, "capital", "production", store=store)
    assert (back.version, back.rollback_of) == (project.v1, start.id)
    after = client.post("/v1/prompts/capital/complete", json={"variables": {"country": "Peru"}, "user_id": "u1"},
                        headers=headers(project.write)).json()
    assert after["version"] == project.v1 and after["canary"] is None
    state = client.get("/v1/deployments/capital/production", headers=headers(project.read)).json()
    assert state["canary"] is None and state["canary_percent"] == 0 and state["comparison"] is None


def test_the_cli_starts_shows_compares_and_finishes_a_canary(project):
    if project.config.database_url and project.config.database_url.startswith("postgres"):
        pytest.skip("the CLI opens the database promptops.yaml names (SQLite)")
    cli = CliInvoker()
    env = {"PROMPTOPS_ROOT": str(project.root)}
    started = cli("promote", f"capital@{project.v2}", "--to", "production", "--canary", "20", env=env)
    assert "for 20% of requests as a canary" in started.stdout and project.v1 in started.stdout
    shown = cli("deployments", "capital", env=env).stdout
    assert f"{project.v1} 80% | {project.v2} 20% (canary)" in " ".join(shown.split())
    assert "(canary 20%" in shown
    compared = cli("canary", "capital", "--env", "production", env=env).stdout
    assert "not yet distinguishable" in compared and "canary 20%" in compared
    data = json.loads(cli("canary", "capital", "--json", env=env).stdout)
    assert data["percent"] == 20 and data["canary"]["version"] == project.v2
    cli("canary", "capital", "--promote", "--abort", env=env, code=2)
    done = cli("canary", "capital", "--promote", "--reason", "looks fine", env=env)
    assert "finished" in done.stdout
    assert deploy.current(project.config, "capital", "production").version == project.v2
    assert "reason: looks fine" in tag_message(project)
    cli("canary", "capital", "--abort", env=env, code=2)  # none running: not found
