"""Pages load scripts and styles only from the app itself (CSP `'self'`, no CDN)."""

import re

import pytest
from django.urls import reverse

ASSET = re.compile(rb'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"')


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["login", "api-docs", "password_reset"])
def test_assets_are_local(client, name):
    resp = client.get(reverse(name))
    assert resp.status_code == 200
    assets = ASSET.findall(resp.content)
    assert assets, "the page should load at least one asset"
    for url in assets:
        assert url.startswith((b"/static/", b"/api/v1/")), url
    assert "script-src 'self'" in resp["Content-Security-Policy"]
