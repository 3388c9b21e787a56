"""The dashboard in a real headless browser: Debian's chromium driven by Playwright, against
uvicorn on a free port serving a temp project with evals, deployments, calls and feedback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promptops.server import create_app
from promptops.server.testing import running
from promptops.store import db
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import capital_rules
from .test_server import WRONG, build_project

CHROMIUM = os.environ.get("PROMPTOPS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no chromium at {CHROMIUM}: apt-get install -y chromium", allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with FakeOpenAI(rules=capital_rules(WRONG)) as fake:
        project = build_project(tmp_path_factory.mktemp("dash"), fake.base_url)
        call = project.store.log_call(prompt="capital", version=project.v1, model="fake/a", env="production",
                                      variables={"country": "Peru"}, messages=[], output="Atlantis", latency_ms=12.0)
        project.store.add_feedback(call.id, score=0, correction="Lima", comment="wrong city")
        with running(create_app(project.config, store=project.store)) as url:
            yield url, project
    db.dispose_engines()


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_prompt_page_shows_the_score_history_chart(site, page):
    url, project = site
    page.goto(url + "/")
    assert page.title() == "Prompts · promptops"
    row = page.locator("#prompts tr", has_text="capital")
    assert "production: " + project.v1[:7] in row.inner_text()
    page.click("a.prompt-link:text('capital')")
    page.wait_for_url("**/prompts/capital")
    chart = page.locator("#score-history")
    assert chart.is_visible()
    points = chart.locator("circle.point")
    assert points.count() == 2  # v1 and v2, one model
    assert [points.nth(i).get_attribute("data-version") for i in range(2)] == [project.v1, project.v2]
    assert points.first.get_attribute("data-accuracy") == "0.8500"
    assert points.first.is_visible() and points.first.bounding_box()["width"] > 0
    assert "85.0%" in points.first.locator("title").text_content()
    assert chart.locator("line.target").count() == 1
    assert page.locator("#versions tr", has_text=project.v1).locator(".label").inner_text() == "production"


def test_eval_drill_down(site, page):
    url, project = site
    page.goto(f"{url}/prompts/capital")
    page.locator("#runs a").last.click()  # the oldest run: v1
    page.wait_for_url("**/evals/*")
    assert page.locator("#cases tr.case").count() == 20
    page.click("text=failing")
    failing = page.locator("#cases tr.case")
    assert failing.count() == len(WRONG)
    assert all("Atlantis" in failing.nth(i).inner_text() for i in range(failing.count()))


def test_calls_and_deployments_pages(site, page):
    url, project = site
    page.goto(url + "/calls")
    row = page.locator("#calls tr.call").first
    assert "Lima" in row.locator(".feedback").inner_text() and "Atlantis" in row.inner_text()
    page.goto(url + "/evals")
    assert page.locator("#runs a.run-link").count() == 2
    page.goto(url + "/deployments")
    current = page.locator("#current").inner_text()
    assert "production" in current and "staging" in current and project.v1 in current
