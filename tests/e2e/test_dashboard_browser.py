"""The dashboard in a real headless browser (Debian's chromium + chromedriver, selenium)
against a real `ccs serve` and the test GitHub: the session page changes when a child's job
reports, without a reload. The screenshots in docs/img/ are taken here, so they stay true."""

from __future__ import annotations

import base64
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.fakes.callback_server import bookshop_files
from tests.fakes.github import FakeGitHub
from tests.fakes.github_runner import ActionJobRunner
from tests.fakes.github_state import WorkflowRun
from tests.fakes.service_process import API_TOKEN, ServiceProcess, service_env

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
HELD = "pricing"  # the component whose job waits until the test lets it go
# A bound, not a deadline: every wait returns as soon as the page shows what it waits for.
PATIENCE = 300


class HoldOne:
    """Run every job with the real action, but hold one component's until `gate` is set."""

    def __init__(self, inner: Any, component: str) -> None:
        self.inner, self.component = inner, component
        self.gate = threading.Event()

    def __call__(self, run: WorkflowRun, entry: dict[str, Any], inputs: dict[str, str]) -> str:
        if entry.get("component") == self.component:
            self.gate.wait(PATIENCE)
        return self.inner(run, entry, inputs)


def browser() -> Any:
    """Return a headless Chromium that sends the API token (Basic) with every request."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        skip_or_fail(f"the browser test needs {', '.join(missing)} (apt-get install "
                     "chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # EventSource cannot set headers; the browser adds this one to every request, as a
    # person's browser sends the Basic credentials it was asked for once.
    basic = base64.b64encode(f"me:{API_TOKEN}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                           {"headers": {"Authorization": f"Basic {basic}"}})
    return driver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGitHub,
                                                                      ServiceProcess, Any]]:
    """The test GitHub, one `ccs serve` aimed at it and a browser."""
    driver = browser()
    root = tmp_path_factory.mktemp("dashboard-e2e")
    home = root / "home"
    home.mkdir()
    identity = {"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": "ccs", "GIT_AUTHOR_EMAIL": "ccs@example.invalid",
                "GIT_COMMITTER_NAME": "ccs", "GIT_COMMITTER_EMAIL": "ccs@example.invalid"}
    try:
        with FakeGitHub.start(root) as gh:
            service = ServiceProcess.start(root, {**service_env(gh, root), **identity,
                                                  "CCS_STREAM_HEARTBEAT": "2"})
            gh.webhook_url = service.webhook_url
            try:
                yield gh, service, driver
            finally:
                service.stop()
    finally:
        driver.quit()


def wait_for(driver: Any, what: str, condition: Any) -> Any:
    """Wait until `condition(driver)` holds; fail naming `what` with the page's text."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, PATIENCE, poll_frequency=0.1).until(condition)
    except TimeoutException:
        pytest.fail(f"the page never showed {what}:\n"
                    + driver.find_element("tag name", "body").text)


def text_of(driver: Any, css: str) -> str:
    found = driver.find_elements("css selector", css)
    return found[0].text if found else ""


def row_status(driver: Any, component: str) -> str:
    for row in driver.find_elements("css selector", "#children tbody tr"):
        if row.find_element("css selector", ".component").text == component:
            return row.find_element("css selector", '[data-field="status"]').text
    return ""


def test_a_child_finishing_changes_the_session_page_without_a_reload(world) -> None:
    gh, ccs, driver = world
    repo = f"books/shop-{uuid.uuid4().hex[:8]}"
    gh.create_repository(repo, files=bookshop_files())
    hold = HoldOne(ActionJobRunner(gh), HELD)
    gh.job_runner = hold
    try:
        status, created = ccs.request("POST", "/api/v1/sessions",
                                      {"repository": repo, "context": "catalog"})
        assert status == 201, created
        page = f"{ccs.url}/sessions/{created['id']}"
        driver.get(page)
        driver.execute_script("window.ccsSamePage = 'not reloaded'")
        # The other three jobs report while the page is open: it follows them live.
        wait_for(driver, "3 of 4 done", lambda d: "3 of 4 done" in text_of(d, "#counts"))
        assert row_status(driver, HELD) in ("dispatched", "running")
        assert text_of(driver, "#connection") == "live updates: connected"
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(DOCS_IMG / "dashboard-session.png"))

        hold.gate.set()  # the held job runs and posts its result to the callback
        wait_for(driver, f"{HELD} succeeded", lambda d: row_status(d, HELD) == "succeeded")
        wait_for(driver, "the session complete", lambda d: text_of(d, "#status") == "complete")
        wait_for(driver, "the end of the stream",
                 lambda d: "finished (complete)" in text_of(d, "#connection"))
        assert driver.execute_script("return window.ccsSamePage") == "not reloaded"
        assert "4 of 4 done" in text_of(driver, "#counts")
        assert driver.find_elements("css selector", "#pull-request a")  # the PR is linked
        logs = driver.find_elements("link text", "log")
        assert len(logs) == 4 and all("/children/" in a.get_attribute("href") for a in logs)
        assert not [entry for entry in driver.get_log("browser")
                    if entry["level"] == "SEVERE" and "Content Security Policy"
                    in entry["message"]]
    finally:
        hold.gate.set()
        gh.job_runner = ActionJobRunner(gh)


def test_the_index_lists_and_filters_sessions_and_fits_a_phone(world) -> None:
    gh, ccs, driver = world
    repo = f"books/shop-{uuid.uuid4().hex[:8]}"
    gh.create_repository(repo, files=bookshop_files())
    hold = HoldOne(ActionJobRunner(gh), HELD)
    gh.job_runner = hold
    try:
        status, created = ccs.request("POST", "/api/v1/sessions",
                                      {"repository": repo, "context": "catalog"})
        assert status == 201, created
        driver.get(f"{ccs.url}/sessions/{created['id']}")
        wait_for(driver, "3 of 4 done", lambda d: "3 of 4 done" in text_of(d, "#counts"))
        driver.get(f"{ccs.url}/")
        assert created["id"] in text_of(driver, "table.list")
        driver.save_screenshot(str(DOCS_IMG / "dashboard-index.png"))
        driver.find_element("id", "status").send_keys("complete")
        driver.find_element("css selector", ".filters button").click()
        wait_for(driver, "the filtered list", lambda d: "status=complete" in d.current_url)
        assert created["id"] not in text_of(driver, "table.list")

        driver.set_window_size(390, 844)  # a phone
        driver.get(f"{ccs.url}/sessions/{created['id']}")
        wait_for(driver, "the connected stream",
                 lambda d: text_of(d, "#connection") == "live updates: connected")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the page is {overflow}px wider than a phone"
    finally:
        driver.set_window_size(1280, 900)
        hold.gate.set()
        gh.job_runner = ActionJobRunner(gh)
        ccs.wait_for_status(created["id"])
    assert os.path.getsize(DOCS_IMG / "dashboard-index.png") > 10_000
