"""The results viewer over plain HTTP: ``promptops view``'s gate (loopback, token, Host), the grid
(filter, search, pagination, two runs compared), escaping of hostile outputs, and the home page's
headline score (main branch or deployed version, never a CI branch run)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest

from promptops.errors import PromptopsError
from promptops.reports.grid import build_grid
from promptops.reports.headline import headline_runs
from promptops.server import viewer as viewer_mod
from promptops.server.viewer import check_loopback, open_browser

from .test_server import WRONG
from .viewer_helpers import viewer, viewer_site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with (viewer_site(tmp_path_factory.mktemp("viewer")) as found,
          httpx.Client(base_url=found.url, follow_redirects=True) as client):
        assert client.get(f"/?token={found.token}").status_code == 200  # sets the cookie
        found.client = client
        yield found


def cases(html: str) -> list[str]:
    return re.findall(r'<tr class="case [^"]*" data-case="([^"]*)"', html)


# --- the gate ---


def test_the_viewer_needs_its_token_then_a_cookie(site):
    with httpx.Client(base_url=site.url) as bare:
        refused = bare.get("/")
        assert refused.status_code == 401 and "promptops view" in refused.text
        assert bare.get("/v1/evals").status_code == 401  # the API behind it too
        assert bare.get("/?token=wrong").status_code == 401
        swap = bare.get(f"/evals/{site.ids['big']}?status=failing&token={site.token}")
        assert swap.status_code == 303
        assert swap.headers["location"] == f"/evals/{site.ids['big']}?status=failing"  # the token leaves the URL
        cookie = swap.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert bare.get(swap.headers["location"]).status_code == 200  # the cookie is kept by the client


def test_reads_need_no_key_behind_the_gate_but_writes_still_do(site):
    from fastapi.testclient import TestClient

    from promptops.server import create_app

    site.project.config.server.require_auth = True
    try:
        with TestClient(create_app(site.project)) as served:  # `promptops serve` asks for a key
            assert served.get("/v1/evals").status_code == 401
        with viewer(site.project) as (url, token), httpx.Client(base_url=url, follow_redirects=True) as client:
            assert client.get(f"/v1/evals?token={token}").status_code == 200  # the viewer waives it
            assert client.post("/v1/calls", json={"prompt": "capital", "output": "x"}).status_code == 401
    finally:
        site.project.config.server.require_auth = False


def test_a_foreign_host_header_is_refused(site):
    # a DNS-rebinding page reaches 127.0.0.1 under its own name: the Host header gives it away
    response = site.client.get("/", headers={"host": "evil.example:80"})
    assert response.status_code == 421


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com", "10.0.0.1"])
def test_non_loopback_addresses_are_refused(host):
    with pytest.raises(PromptopsError, match="loopback only"):
        check_loopback(host)


@pytest.mark.parametrize("host, bound", [("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"), ("::1", "::1"),
                                         ("127.0.0.2", "127.0.0.2")])
def test_loopback_addresses_are_taken(host, bound):
    assert check_loopback(host) == bound


def test_open_browser_only_when_one_exists(monkeypatch):
    import webbrowser

    opened = []
    monkeypatch.setattr(webbrowser, "get", lambda: SimpleNamespace(open=opened.append))
    assert open_browser("http://127.0.0.1:1/?token=t") is True
    for _ in range(100):  # the browser is started in a thread
        if opened:
            break
        import time

        time.sleep(0.01)
    assert opened == ["http://127.0.0.1:1/?token=t"]

    def none():
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "get", none)
    assert open_browser("http://127.0.0.1:1/") is False


# --- the grid ---


def test_grid_filters_to_failures_and_searches_inputs_and_outputs(site):
    run = site.ids["main_v2"]
    every = site.client.get(f"/evals/{run}").text
    assert len(cases(every)) == 20
    failing = site.client.get(f"/evals/{run}?status=failing").text
    assert sorted(cases(failing)) == sorted(c.lower() for c in WRONG)
    assert "Atlantis" in failing
    by_input = site.client.get(f"/evals/{run}", params={"q": "peru"}).text
    assert cases(by_input) == ["peru"]
    by_output = site.client.get(f"/evals/{run}", params={"q": "atlantis"}).text  # case-insensitive, over outputs
    assert sorted(cases(by_output)) == sorted(c.lower() for c in WRONG)
    both = site.client.get(f"/evals/{run}", params={"q": "lima", "status": "pass"}).text
    assert cases(both) == []  # Peru's answer is wrong: no passing case mentions Lima
    assert "No case matches." in both


def test_grid_paginates_a_thousand_cases_with_one_query_per_run(site, monkeypatch):
    calls = []
    original = site.project.store.result_rows
    monkeypatch.setattr(site.project.store, "result_rows", lambda run_id: calls.append(run_id) or original(run_id))
    run = site.ids["big"]
    first = site.client.get(f"/evals/{run}?status=failing").text
    assert calls == [run]
    assert len(cases(first)) == 100 and "100 of 1000" in first
    page = site.client.get(f"/evals/{run}?per_page=40&page=3").text
    shown = cases(page)
    assert len(shown) == 40 and "page 3 of 25" in page
    # failures first (every tenth case: 100 of them), then the passes, each by case id
    assert shown[0] == "case-0800" and shown[19] == "case-0990" and shown[20:22] == ["case-0001", "case-0002"]
    assert 'rel="next" href="?per_page=40&amp;page=4"' in page
    assert site.client.get(f"/evals/{run}?per_page=5000").status_code == 422


def test_two_runs_compared_highlight_the_changed_verdicts(site):
    html = site.client.get(f"/evals/{site.ids['head']}?base={site.ids['base']}").text
    rows = dict(re.findall(r'<tr class="case ([^"]*)" data-case="([^"]*)"', html)[i][::-1] for i in range(4))
    assert rows["c1"].endswith("changed broke") and rows["c2"].endswith("changed fixed")
    assert rows["c4"].endswith("changed changed")  # a failure became an error
    assert "changed" not in rows["c3"]
    assert cases(html)[-1] == "c3"  # the unchanged case last
    assert "3 of 4 cases changed verdict" in html
    assert html.count('<th class="col"') == 2 and ">uno<" in html and ">one<" in html  # outputs side by side
    changed = site.client.get(f"/evals/{site.ids['head']}?base={site.ids['base']}&status=changed").text
    assert sorted(cases(changed)) == ["c1", "c2", "c4"]
    assert site.client.get(f"/evals/{site.ids['head']}?base={site.ids['head']}").status_code == 400


def test_runs_page_links_each_run_to_the_one_before_it(site):
    html = site.client.get("/evals?prompt=pair").text
    assert f'href="/evals/{site.ids["head"]}?base={site.ids["base"]}"' in html


def test_hostile_outputs_case_ids_and_vars_are_escaped(site):
    html = site.client.get(f"/evals/{site.ids['hostile']}").text
    assert "<script>alert" not in html and "<img src=x" not in html and '<b id="x">' not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;b id=&#34;x&#34;&gt;case&lt;/b&gt;" in html
    searched = site.client.get(f"/evals/{site.ids['hostile']}", params={"q": '"><script>'}).text
    assert '"><script>' not in searched and "&#34;&gt;&lt;script&gt;" in searched  # the echoed query too


# --- the home page's headline ---


def test_home_page_scores_the_main_branch_run_not_the_newer_ci_run(site):
    html = site.client.get("/").text
    row = re.search(r'<a class="prompt-link" href="/prompts/capital">.*?</tr>', html, re.DOTALL).group(0)
    assert f'href="/evals/{site.ids["main_v2"]}"' in row and "main" in row
    assert f'href="/evals/{site.ids["ci"]}"' not in row


def run(id, prompt="p", branch="main", source="cli", version="v1", status="finished", summary=True):
    return SimpleNamespace(id=id, prompt=prompt, branch=branch, source=source, version=version, status=status,
                           summary={"m": {"accuracy": 0.5}} if summary else None)


NOW = datetime(2026, 1, 1, tzinfo=UTC)
LABELS = {"p": {"staging": SimpleNamespace(version="v2", created_at=NOW),
                "production": SimpleNamespace(version="v1", created_at=NOW - timedelta(days=1))}}


@pytest.mark.parametrize("runs, labels, expected", [
    ([run(1), run(2, branch="feat", source="ci")], {}, (1, "main")),              # a newer CI branch run is not it
    ([run(1), run(2)], {}, (2, "main")),                                           # the newest main run
    ([run(1), run(2, source="optimize")], {}, (1, "main")),                        # optimize scores other data
    ([run(1), run(2, status="interrupted")], {}, (1, "main")),
    ([run(1, branch="feat", version="v1"), run(2, branch="feat", version="v2")], LABELS, (1, "label:production")),
    ([run(2, branch="feat", version="v2")], LABELS, (2, "label:staging")),          # the other label when production has none
    ([run(1, branch="feat", source="ci")], {}, None),                              # only CI branch runs: no headline
    ([run(1, branch=None), run(2, branch=None, source="ci")], {}, (1, "unbranched")),  # a history without branches
    ([run(1, branch=None, source="ci")], {}, None),
])
def test_headline_rule(runs, labels, expected):
    got = headline_runs(runs, labels, branch="main").get("p")
    assert (None if got is None else (got.run.id, got.origin)) == expected


def test_grid_rejects_an_unknown_status():
    with pytest.raises(ValueError, match="unknown status"):
        build_grid([], status="weird")


# --- the command ---


def test_view_refuses_a_public_address(cli, git_project):
    result = cli("-C", git_project, "view", "--host", "0.0.0.0", code=2)
    assert "loopback only" in result.stderr


def test_view_serves_the_local_database_until_stopped(site):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen([sys.executable, "-m", "promptops.cli.main", "-C", str(site.built.root), "view",
                             str(site.ids["head"]), "--compare", str(site.ids["base"]), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/\S+", line).group(0)
        assert f"/evals/{site.ids['head']}?base={site.ids['base']}&token=" in url
        response = httpx.get(url, follow_redirects=True)
        assert response.status_code == 200 and "3 of 4 cases changed verdict" in response.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert "Traceback" not in proc.stderr.read()


def test_view_of_an_unknown_run_fails_before_serving(cli, git_project):
    result = cli("-C", git_project, "view", "999", "--no-browser", code=None)
    assert result.exit_code != 0 and "999" in (result.stderr + result.stdout)


def test_viewer_module_exports(site):
    assert viewer_mod.host_names("127.0.0.1", 5) == {"127.0.0.1:5", "localhost:5"}
    assert viewer_mod.host_names("::1", 5) == {"[::1]:5", "localhost:5"}


def test_result_rows_are_the_results_as_plain_rows(site):
    store = site.project.store
    run_id = site.ids["main_v2"]
    orm = [{k: getattr(r, k) for k in ("id", "case_id", "model", "vars", "expected", "output", "passed", "error",
                                        "cached", "created_at")} for r in store.results(run_id)]
    plain = [{k: getattr(r, k) for k in orm[0]} for r in store.result_rows(run_id)]
    assert plain == orm and len(plain) == 20
