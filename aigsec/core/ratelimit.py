"""Request rate limits, counted in the cache (Redis in production, shared by every process).

Fixed windows: one counter per (scope, kind, key, window number), created with `cache.add` and
raised with `cache.incr`, both atomic on Redis, so concurrent requests never lose a count. Up
to twice a limit can pass across a window boundary; accepted, for one round trip per check.

Limits come from `settings.RATE_LIMITS`, keyed "<scope>:<kind>" ("upload:user", "api:ip"), as
"N/period" with period s, m, h or d, optionally counted ("10/15m"); "0" switches one off.
The client IP is `aigsec.accounts.net.client_ip`, which honours TRUSTED_PROXY_COUNT.

Refusals are logged as warnings, not written to the audit trail: the chain records changes and
decisions, and a flood of refused requests would grow it without bound (and could bury the
events an investigation needs) at the attacker's pace.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from aigsec.accounts.net import client_ip

from .errors import too_many_requests

log = logging.getLogger("aigsec.ratelimit")

_RATE = re.compile(r"^(\d+)/([1-9]\d*)?([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class RateResult:
    allowed: bool
    count: int
    limit: int
    retry_after: int  # seconds until the current window ends


def parse_rate(value: str) -> tuple[int, int] | None:
    """ "20/h" -> (20, 3600); "5/15m" -> (5, 900); "0" or "" -> None (no limit)."""
    value = (value or "").strip()
    if value in ("", "0"):
        return None
    m = _RATE.match(value)
    if m is None or int(m.group(1)) < 1:
        raise ValueError(f"Not a rate: {value!r} (use e.g. 60/m, 20/h, 5/15m, or 0 for none).")
    return int(m.group(1)), int(m.group(2) or 1) * _UNIT[m.group(3)]


def hit(scope: str, key: str, limit: int, window: int) -> RateResult:
    """Count one event for `key` in `scope`; allowed while the window's count is <= limit."""
    now = time.time()
    number = int(now // window)
    cache_key = f"rl:{scope}:{key}:{window}:{number}"
    retry_after = max(1, math.ceil((number + 1) * window - now))
    # +1: the counter must not vanish before the window it counts has ended.
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window + 1)
        count = 1
    return RateResult(count <= limit, count, limit, retry_after)


def digest(value: str) -> str:
    """A key for something typed (an e-mail address): neither stored nor logged in clear."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def _keys(request: Any, extra: dict[str, str] | None) -> dict[str, str]:
    keys: dict[str, str] = {}
    user = getattr(request, "user", None)
    if getattr(user, "is_authenticated", False):
        keys["user"] = str(user.pk)
    ip = client_ip(request)
    if ip:
        keys["ip"] = ip
    return keys | (extra or {})


def limit_request(
    request: Any, scope: str, extra: dict[str, str] | None = None
) -> RateResult | None:
    """Count this request against every limit configured for `scope` (per user, per IP, and
    per `extra` kind, e.g. {"email": digest(address)}). The refusal, or None when allowed.

    Every counter is raised, refused or not, so hammering on one key keeps its window full."""
    refused: RateResult | None = None
    for kind, key in _keys(request, extra).items():
        rate = parse_rate(settings.RATE_LIMITS.get(f"{scope}:{kind}", ""))
        if rate is None:
            continue
        result = hit(scope, f"{kind}:{key}", *rate)
        if not result.allowed:
            log.warning("rate limited: scope=%s %s=%s count=%d", scope, kind, key, result.count)
            if refused is None or result.retry_after > refused.retry_after:
                refused = result
    return refused


def wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def rate_limit(
    scope: str,
    *,
    message: str,
    methods: tuple[str, ...] = ("POST",),
    extra: Callable[[HttpRequest], dict[str, str]] | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """View decorator: a 429 page (JSON under /api/) with Retry-After past the scope's limits.
    `extra(request)` names further keys to count (see `limit_request`)."""

    # Called under another name: bandit (B610) takes any call named extra() for QuerySet.extra.
    more_keys = extra

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method in methods:
                refused = limit_request(request, scope, more_keys(request) if more_keys else None)
                if refused is not None:
                    return too_many_requests(
                        request,
                        refused.retry_after,
                        f"{message} Try again in {wait_text(refused.retry_after)}.",
                    )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class RateLimitThrottle(BaseThrottle):
    """DRF throttle over `limit_request`. Raises the 429 itself, to name what was limited;
    the API's exception handler adds `retry_after` to the body."""

    scope = "api"
    message = "Too many API requests."

    def allow_request(self, request: Any, view: Any) -> bool:
        refused = limit_request(request, self.scope)
        if refused is not None:
            raise Throttled(wait=refused.retry_after, detail=self.message)
        return True


class UploadRateThrottle(RateLimitThrottle):
    scope = "upload"
    message = "Too many uploads."
