"""End-to-end fixtures: Debian's Chromium driven by Playwright against the app on a live server
(pytest-django's `live_server`, a thread of this process on the PostgreSQL test database), the
demo world seeded through the framework loader and `seed_demo`, and people who log in through
the real log-in form (with a TOTP code for those who have a second factor).

`live_server` makes every test transactional: the data is committed, so the server thread and
a Celery worker process see it, and it is flushed after each test.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from .helpers import DEMO_PASSWORD, log_in, off_the_loop

if TYPE_CHECKING:
    from aigsec.accounts.models import Team
    from assessments.models import Assessment

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
STRANGER = "stranger@other.test"
DESKTOP = {"width": 1280, "height": 800}
FAILURES = Path(__file__).resolve().parents[2] / "var" / "e2e-failures"
TIMEOUT_MS = 10_000  # a journey step that takes longer than this is a failure, not a wait


@pytest.fixture(scope="package")
def live_server(request):
    """pytest-django's live server, started with a MEDIA_URL it can parse.

    The app has MEDIA_URL = None on purpose (files are only ever served through views that
    check access), but Django's live server thread wraps the app in a media-file handler that
    parses MEDIA_URL once, at start, and fails on None. A URL with a host makes that handler
    pass every request on: as in production, no stored file is reachable by its path."""
    from django.test.utils import override_settings
    from pytest_django.live_server_helper import LiveServer

    addr = (
        request.config.getvalue("liveserver")
        or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS")
        or "localhost"
    )
    with override_settings(MEDIA_URL="http://media.invalid/"):
        server = LiveServer(addr)
    yield server
    server.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for all end-to-end tests.

    Package scope rather than session: Playwright's sync API keeps an asyncio loop running in
    this thread while it lives, and Django refuses ORM calls from a thread with a running loop
    (SynchronousOnlyOperation). The tests' own database reads are plain synchronous code, so
    the guard is lifted, but only while the browser exists, i.e. only for tests/e2e."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run `bash .ci/browser.sh` (make test does)")
    old = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            # Playwright passes --no-sandbox itself (chromium_sandbox defaults to False), which
            # Chromium needs when it runs as root, as in CI containers.
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            yield b
            b.close()
    finally:
        if old is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = old


@dataclass
class Demo:
    """The demo world of `seed_demo`, plus a stranger: the admin of the other team."""

    team: Team
    other_team: Team
    assessment: Assessment


def _seed(*, with_report: bool) -> Demo:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from aigsec.accounts.models import Role, Team
    from aigsec.accounts.services import membership_add
    from assessments.models import Assessment

    call_command("load_framework", stdout=io.StringIO())
    with contextlib.ExitStack() as stack:
        if not with_report:
            # The demo's signed report takes most of seed_demo's time (WeasyPrint, pyHanko);
            # only the tests that show or reach a signed report ask for it.
            stack.enter_context(mock.patch("reports.demo.seed", lambda stdout: None))
        call_command("seed_demo", stdout=io.StringIO())
    team = Team.objects.get(name="Demo AI Ltd")
    other = Team.objects.get(name="Other Co")
    stranger = membership_add(team=other, email=STRANGER, role=Role.ADMIN, actor=None).user
    stranger.set_password(DEMO_PASSWORD)
    stranger.full_name = "Sam Stranger"
    stranger.save(update_fields=["password", "full_name"])
    TOTPDevice.objects.create(user=stranger, name="Authenticator app", confirmed=True)
    return Demo(
        team=team,
        other_team=other,
        assessment=Assessment.objects.get(team=team, title="Support chatbot — 2026 baseline"),
    )


@pytest.fixture
def demo(live_server, monkeypatch) -> Demo:
    """The demo world without the demo's signed report."""
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    return off_the_loop(_seed, with_report=False)


@pytest.fixture
def demo_with_report(live_server, monkeypatch) -> Demo:
    """All of seed_demo, including a signed report (pyHanko, hence off the test thread)."""
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    return off_the_loop(_seed, with_report=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


@pytest.fixture
def open_page(request, browser: Browser, live_server) -> Iterator[Callable[..., Page]]:
    """open_page(email=None, **context_options): a page in a browser context of its own (its
    own cookies), logged in as `email` when given. When the test fails, each page's screenshot
    and HTML are kept under var/e2e-failures/ (CI artifacts)."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def _open(email: str | None = None, **options) -> Page:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        watch_console(page, problems)
        return log_in(page, email) if email else page

    yield _open
    if getattr(request.node, "e2e_failed", False):
        out = FAILURES / request.node.name
        out.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(p for c in contexts for p in c.pages):
            page.screenshot(path=out / f"page{i}.png", full_page=True)
            (out / f"page{i}.html").write_text(f"<!-- {page.url} -->\n{page.content()}")
    for context in contexts:
        context.close()
    if problems and not getattr(request.node, "e2e_failed", False):
        pytest.fail("console errors in the browser:\n" + "\n".join(problems), pytrace=False)


# "Failed to load resource: the server responded with a status of 404 (Not Found)"
_FAILED_LOAD = re.compile(r"^Failed to load resource: .*status of (\d{3})")


def console_problem(kind: str, text: str, url: str) -> str | None:
    """Whether a console message is a defect: every error (a script exception, a CSP
    violation, an htmx error) is, except the app's own deliberate 4xx answers to a page or an
    htmx request (a refused page, a validation error, a conflict), which Chromium reports as
    failed loads too. A missing script, style or image (under /static/) or any 5xx is not
    deliberate."""
    if kind != "error":
        return None
    failed = _FAILED_LOAD.match(text)
    if failed and failed.group(1).startswith("4") and "/static/" not in url:
        return None
    return f"{text} ({url})" if url else text


def watch_console(page: Page, problems: list[str]) -> None:
    """Collect the page's console errors and uncaught exceptions into `problems`: open_page
    fails the test on any (CSP violations are console errors in Chromium)."""

    def on_console(msg) -> None:
        problem = console_problem(msg.type, msg.text, (msg.location or {}).get("url", ""))
        if problem:
            problems.append(f"{page.url}: {problem}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: uncaught {exc}"))
