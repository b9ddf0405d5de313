"""API requests without valid credentials count against the per-IP API limit.

DRF authenticates and checks permissions before it throttles, so a 401 never reached the
limiter: 11,000 requests a minute with made-up tokens from one IP all got 401s. They are now
counted (aigsec.core.api.exception_handler) and past the per-IP limit answered 429.
"""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from aigsec.accounts.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db
URL = "/api/v1/ai-systems/"


@pytest.fixture
def ip_limit(settings):
    # Fixed one-minute windows: start well inside one (see tests/core/test_ratelimit.py).
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.05)
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api:ip": "5/m", "api:user": "1000/m"}


def _client(ip: str, authorization: str | None = None) -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer made-up-token-0123456789",  # unknown token
        "Bearer a b",  # malformed
        None,  # no credentials at all
    ],
)
def test_refused_credentials_count_against_the_ip_limit(personas, ip_limit, authorization):
    client = _client("10.7.0.1", authorization)
    for _ in range(5):
        r = client.get(URL)
        assert r.status_code == 401, r.content
    r = client.get(URL)
    assert r.status_code == 429
    assert r.json()["detail"].startswith("Too many API requests.")
    assert 1 <= r.json()["retry_after"] == int(r["Retry-After"]) <= 60
    # POSTs too: the limit is per IP, whatever the method.
    assert client.post(URL, {"name": "x"}, format="json").status_code == 429
    # Another address is not affected.
    assert _client("10.7.0.2", authorization).get(URL).status_code == 401


def test_a_flood_of_guessed_tokens_blocks_the_ip_for_valid_tokens_too(personas, ip_limit):
    """The limit is the IP's: the guesser cannot go on by mixing in a valid token."""
    for n in range(5):
        assert _client("10.7.1.1", f"Bearer guess-{n}").get(URL).status_code == 401
    _, secret = api_token_create(user=personas.risk_owner, name="t")
    assert _client("10.7.1.1", f"Bearer {secret}").get(URL).status_code == 429
    assert _client("10.7.1.9", f"Bearer {secret}").get(URL).status_code == 200


def test_a_revoked_token_counts_too(personas, ip_limit):
    token, secret = api_token_create(user=personas.risk_owner, name="t")
    api_token_revoke(token=token, actor=personas.risk_owner)
    client = _client("10.7.2.1", f"Bearer {secret}")
    codes = [client.get(URL).status_code for _ in range(7)]
    assert codes == [401] * 5 + [429] * 2


def test_the_default_limit_leaves_a_few_refusals_alone(personas):
    client = _client("10.7.3.1", "Bearer nope")
    assert [client.get(URL).status_code for _ in range(20)] == [401] * 20
