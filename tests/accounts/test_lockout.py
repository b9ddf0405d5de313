"""The log-in lockout (aigsec/accounts/lockout.py) as its owner and a stranger meet it.

- A stranger who knows an address, failing from their own IP, locks out only themselves: the
  owner signs in from their own IP (the lockout was per address alone: anyone could lock
  anyone out for 15 minutes, again and again).
- Guessing one address from many IPs still ends, at the address-wide ceiling.
- A completed password reset clears the lockout of the account, from every IP.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from aigsec.accounts.forms import GENERIC_LOCKED
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "Copper-harbour-lattice-2846"
OWNER_IP, STRANGER_IP = "10.8.0.1", "10.8.9.9"


def _login(email: str, password: str = PASSWORD, ip: str = OWNER_IP):
    return Client().post(
        reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=ip
    )


def _fail(email: str, times: int, ip: str) -> None:
    for _ in range(times):
        assert _login(email, "wrong-password-1", ip=ip).status_code == 200


def _complete_reset(email: str, ip: str = OWNER_IP) -> None:
    c = Client(REMOTE_ADDR=ip)
    assert c.post(reverse("password_reset"), {"email": email}).status_code == 302
    body = mail.outbox[-1].body
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/\S+/)", body).group(1)
    r = c.get(path, follow=True)
    assert r.context["validlink"]
    r = c.post(
        r.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert r.status_code == 302 and r.url == reverse("login")


def test_a_stranger_cannot_lock_the_owner_out(personas, settings):
    owner = personas.manager.email
    _fail(owner, settings.LOGIN_FAILURE_LIMIT, ip=STRANGER_IP)
    # The stranger is locked out, even with the right password...
    r = _login(owner, ip=STRANGER_IP)
    assert r.status_code == 429 and GENERIC_LOCKED in r.content.decode()
    # ...the owner, from their own network, is not.
    assert _login(owner, ip=OWNER_IP).status_code == 302


def test_the_owner_failing_from_one_ip_is_locked_there(personas, settings):
    owner = personas.manager.email
    _fail(owner, settings.LOGIN_FAILURE_LIMIT, ip=OWNER_IP)
    assert _login(owner, ip=OWNER_IP).status_code == 429
    # Unknown addresses behave the same (nothing to learn from the lockout).
    _fail("nobody@acme.test", settings.LOGIN_FAILURE_LIMIT, ip=OWNER_IP)
    assert _login("nobody@acme.test", ip=OWNER_IP).status_code == 429


def test_guessing_one_address_from_many_ips_still_ends(personas, settings):
    # The default ceiling is out of reach of one IP: its own limit stops it first.
    assert settings.LOGIN_IP_FAILURE_LIMIT < settings.LOGIN_ADDRESS_FAILURE_LIMIT
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 12
    owner = personas.manager.email
    for n in range(4):
        _fail(owner, 3, ip=f"10.8.1.{n}")  # below every per-IP limit
    r = _login(owner, ip="10.8.1.200")
    assert r.status_code == 429 and GENERIC_LOCKED in r.content.decode()


def test_a_completed_password_reset_clears_the_lockout_from_every_ip(personas, settings):
    owner = personas.manager.email
    _fail(owner, settings.LOGIN_FAILURE_LIMIT, ip=OWNER_IP)
    _fail(owner, settings.LOGIN_FAILURE_LIMIT, ip="10.8.2.2")
    assert _login(owner, ip=OWNER_IP).status_code == 429

    _complete_reset(owner)

    assert _login(owner, NEW_PASSWORD, ip=OWNER_IP).status_code == 302
    assert _login(owner, NEW_PASSWORD, ip="10.8.2.2").status_code == 302


def test_a_reset_clears_the_address_wide_ceiling_but_not_a_guessing_ip(personas, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 6
    owner, other = personas.manager.email, personas.auditor.email
    _fail(owner, 3, ip="10.8.3.1")
    _fail(owner, 3, ip="10.8.3.2")
    assert _login(owner, ip=OWNER_IP).status_code == 429  # the ceiling
    settings.LOGIN_IP_FAILURE_LIMIT = 3
    _fail(other, 3, ip="10.8.3.3")  # this IP has spent its budget on other addresses

    _complete_reset(owner)

    assert _login(owner, NEW_PASSWORD, ip=OWNER_IP).status_code == 302
    # The IP's own count belongs to the IP, not to the account: a reset does not clear it.
    assert _login(owner, NEW_PASSWORD, ip="10.8.3.3").status_code == 429


def test_a_reset_that_is_only_requested_clears_nothing(personas, settings):
    """Anyone can ask for a reset mail: only using its link proves control of the mailbox."""
    owner = personas.manager.email
    _fail(owner, settings.LOGIN_FAILURE_LIMIT, ip=OWNER_IP)
    Client(REMOTE_ADDR=OWNER_IP).post(reverse("password_reset"), {"email": owner})
    assert _login(owner, ip=OWNER_IP).status_code == 429
