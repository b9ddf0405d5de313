"""Steps shared by the journeys: logging in through the form, code that needs a thread
without Playwright's event loop."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyotp
from playwright.sync_api import Locator, Page, expect

DEMO_PASSWORD = "e2e-demo-Passw0rd-x7"


def user(email: str):
    from aigsec.accounts.models import User

    return User.objects.get(email=email)


def totp_code(email: str) -> str:
    """The code an authenticator app would show now, from the device's stored secret."""
    from aigsec.accounts.mfa import mfa_device, totp_secret

    return pyotp.TOTP(totp_secret(mfa_device(user(email)))).now()


def log_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> Page:
    """Through the log-in form, and the second step when the person has a second factor."""
    from aigsec.accounts.mfa import mfa_enabled

    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    if mfa_enabled(user(email)):
        expect(page.get_by_role("heading", name="Second step")).to_be_visible()
        page.get_by_label("Code").fill(totp_code(email))
        page.get_by_role("button", name="Verify").click()
    expect(page.locator("details.dropdown summary")).to_have_text(user(email).display_name)
    return page


def off_the_loop(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """Run `fn` in a thread of its own. Playwright's sync API keeps an asyncio loop running in
    the test thread, and pyHanko signs and validates with asyncio.run(), which refuses to start
    inside a running loop. The thread's database connection is closed when it is done."""
    from django.db import connections

    def run():
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def open_control(page: Page, response) -> Locator:
    """A control on a questionnaire page, opened: a summary is clicked, its form, evidence and
    comments are fetched and replace it, and the keyboard focus lands on its title."""
    card = page.locator(f"#r{response.pk}")
    if "control-summary" in (card.get_attribute("class") or ""):
        card.locator("summary").first.click()
        expect(card).not_to_have_class(re.compile(r"\bcontrol-summary\b"))
        expect(card.locator(".control-title")).to_be_focused()
    return card
