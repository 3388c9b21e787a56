"""The results viewer in a real headless browser (Debian's chromium driven by Playwright): the
token swap, the grid's filter and search, two runs compared, and a hostile output that stays text."""

from __future__ import annotations

import pytest

from .test_dashboard import (  # skips the module where chromium is missing
    ARGS,
    CHROMIUM,
    sync_api,
)
from .test_server import WRONG
from .viewer_helpers import HOSTILE, viewer_site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with viewer_site(tmp_path_factory.mktemp("viewer-browser")) as found:
        yield found


@pytest.fixture(scope="module")
def page(site):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.dialogs = []
            page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
            page.goto(f"{site.url}/?token={site.token}")  # what `promptops view` opens
            yield page
        finally:
            browser.close()


def rows(page):
    return page.locator("#cases tr.case")


def test_the_token_becomes_a_cookie_and_leaves_the_url(site, page):
    page.goto(f"{site.url}/?token={site.token}")
    assert page.url == site.url + "/"
    assert page.title() == "Prompts · promptops"
    headline = page.locator("#prompts tr", has_text="capital").locator("td.headline")
    assert headline.locator("a").get_attribute("href") == f"/evals/{site.ids['main_v2']}"  # not the CI run
    assert "main" in headline.inner_text()


def test_filter_to_failures_then_search(site, page):
    page.goto(f"{site.url}/evals/{site.ids['main_v2']}")
    assert rows(page).count() == 20
    page.click("#statuses a[data-status=failing]")
    page.wait_for_url("**status=failing")
    assert sorted(rows(page).evaluate_all("rs => rs.map(r => r.dataset.case)")) == sorted(c.lower() for c in WRONG)
    page.fill("#search", "PERU")
    page.press("#search", "Enter")
    page.wait_for_url("**q=PERU**")
    assert rows(page).evaluate_all("rs => rs.map(r => r.dataset.case)") == ["peru"]  # still failures only
    assert "Atlantis" in rows(page).first.locator("td.cell").inner_text()
    page.click("#statuses a[data-status=all]")  # the search is kept, the status dropped
    assert rows(page).count() == 1 and page.input_value("#search") == "PERU"
    page.fill("#search", "")
    page.press("#search", "Enter")
    page.wait_for_load_state()
    assert rows(page).count() == 20


def test_two_runs_compared_in_the_browser(site, page):
    page.goto(f"{site.url}/evals/{site.ids['head']}")
    page.select_option("#compare", str(site.ids["base"]))
    page.click("#compare-form button")
    page.wait_for_url(f"**base={site.ids['base']}**")
    changed = page.locator("#cases tr.changed")
    assert changed.count() == 3
    border = changed.first.locator("td").first.evaluate("td => getComputedStyle(td).borderLeftColor")
    assert border == "rgb(124, 58, 237)"  # highlighted
    assert page.locator("#cases tr.case:not(.changed)").get_attribute("data-case") == "c3"
    c1 = page.locator("#cases tr[data-case=c1] td.cell")
    assert [c1.nth(i).inner_text().split()[0] for i in range(2)] == ["pass", "fail"]  # base, head side by side
    page.click("#statuses a[data-status=changed]")
    assert sorted(rows(page).evaluate_all("rs => rs.map(r => r.dataset.case)")) == ["c1", "c2", "c4"]


def test_a_hostile_output_is_shown_as_text(site, page):
    page.goto(f"{site.url}/evals/{site.ids['hostile']}")
    assert page.locator("#cases pre.out").first.text_content() == HOSTILE
    assert page.locator("#cases img, #cases script, #cases b#x").count() == 0
    page.fill("#search", HOSTILE[:20])
    page.press("#search", "Enter")
    page.wait_for_load_state()
    assert rows(page).count() == 1
    assert page.dialogs == []


def test_screenshot_of_the_grid_renders(site, page, tmp_path):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{site.url}/evals/{site.ids['head']}?base={site.ids['base']}")
    shot = tmp_path / "grid.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
