"""Browser tests: Debian's Chromium, driven by Playwright, against one `sdfleet up` stack.

The stack is started as the end-to-end test starts it (its own state directory, fixed ports
so the recorded Terraform apply is replayed) and shared by every test of the session. Each
test gets fresh browser contexts; every console error fails the test unless the test named
it as expected; ``shot()`` saves a screenshot per state under build/test-artifacts/browser/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_local_stack import (
    FIXED_PORTS,
    READY_TIMEOUT_SECONDS,
    STOP_TIMEOUT_SECONDS,
    Stack,
    _preconditions,
    descendants,
    free_port,
    port_free,
)
from tests.support.tools import missing, require_executable

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts" / "browser"
AXE_SCRIPT = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
WEB_BUILD = ROOT / "frontend" / "dist" / "index.html"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
#: A password that passes the pool's policy (12+ characters, upper, lower, digit).
PASSWORD = "Browser-Test-Passw0rd"


def _require_browser() -> str:
    chromium = require_executable(
        "chromium",
        "install Debian's Chromium (`apt-get install -y chromium`, or `make browser-deps` as "
        "root); set SDFLEET_CHROMIUM to use another binary",
        env_var="SDFLEET_CHROMIUM",
    )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright Python package", "run `make venv` (it is in the dev extra)")
    if not WEB_BUILD.exists() or not AXE_SCRIPT.exists():
        missing("the web app build", "run `make frontend` (needs Node.js >= 20.19 and npm)")
    return chromium


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return _require_browser()


@pytest.fixture(scope="package")
def web_stack(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One `sdfleet up` for every browser test (web app served on the frontend port), stopped
    after the last one (package scope), so it does not hold CPU through the rest of the run.

    ``SDFLEET_BROWSER_RUNNING_STACK=<state dir>`` uses a stack that is already up instead
    (for working on the web app: no restart per run).
    """
    running = os.environ.get("SDFLEET_BROWSER_RUNNING_STACK")
    if running:
        state = json.loads((Path(running) / "local.json").read_text())
        yield Stack(None, Path(running), Path(running) / "none", state)  # type: ignore[arg-type]
        return
    _preconditions()
    base = tmp_path_factory.mktemp("web-stack")
    # The end-to-end test's state directory and ports (it runs after this stack stopped):
    # the same Terraform inputs, so one of the two replays the other's recorded apply.
    state_dir = Path(os.environ.get("SDFLEET_E2E_STATE_DIR", ROOT / ".sdfleet" / "e2e-stack"))
    ports = [port if port_free(port) else free_port() for port in FIXED_PORTS]
    console = base / "up.console"
    with console.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "sdfleet_cli.cli", "up",
                "--state-dir", str(state_dir),
                "--emulator-port", str(ports[0]),
                "--api-port", str(ports[1]),
                "--frontend-port", str(ports[2]),
                "--max-workers", "2",
                "--scaler-interval", "1",
                # Workers stay up for the whole module: one cold start, not one per test.
                "--idle-seconds", "900",
                "--quiet-seconds", "900",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    state_file = state_dir / "local.json"
    while not (state_file.exists() and re.search(r"^workers: \d+$", console.read_text(), re.M)):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"sdfleet up did not get ready:\n{console.read_text()}")
        time.sleep(0.5)
    stack = Stack(process, state_dir, console, json.loads(state_file.read_text()))
    if not stack.state.get("frontend_url"):
        pytest.fail("sdfleet up served no web app although frontend/dist exists")
    try:
        yield stack
    finally:
        children = descendants(process.pid)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            for pid in [process.pid, *children]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # This session's screenshots only (a renamed state must not leave an old picture behind).
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Browsing:
    """Pages of one test: console errors collected, screenshots named after the test."""

    browser: Any
    base_url: str
    test_name: str
    contexts: list[Any] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    expected_errors: list[re.Pattern[str]] = field(default_factory=list)
    shots: int = 0

    def page(self, width: int = 1280, height: int = 900) -> Any:
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport={"width": width, "height": height},
            accept_downloads=True,
        )
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(
                    f"console: {message.text} ({message.location.get('url', '')})"
                )
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))
        return page

    def expect_console_error(self, pattern: str) -> None:
        """A console error this test causes on purpose (e.g. the 400 it provokes)."""
        self.expected_errors.append(re.compile(pattern))

    def unexpected_errors(self) -> list[str]:
        return [
            text
            for text in self.console_errors
            if not any(pattern.search(text) for pattern in self.expected_errors)
        ]

    def shot(self, page: Any, state: str) -> Path:
        self.shots += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{self.shots:02d}-{state}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture()
def browsing(browser: Any, web_stack: Stack, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    session = Browsing(browser, str(web_stack.state["frontend_url"]), request.node.name)
    try:
        yield session
        assert session.unexpected_errors() == [], "console errors in the browser"
    finally:
        for context in session.contexts:
            context.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def unique_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="package")
def alice(web_stack: Stack) -> str:
    """A confirmed user with ``PASSWORD`` (signing up through the page is tested once)."""
    from sdfleet.aws import AwsClients
    from sdfleet_cli.local.cognito import LocalUsers

    state = web_stack.state
    clients = AwsClients(str(state["aws_endpoint_url"]), str(state["region"]))
    users = LocalUsers(
        clients.cognito_idp(), str(state["user_pool_id"]), str(state["user_pool_client_id"])
    )
    username = unique_user("alice")
    users.ensure_user(username, PASSWORD)
    return username


AxeCheck = Callable[[Any, str], None]
