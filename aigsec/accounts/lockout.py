"""Failed-login throttling, cache-backed, per e-mail address and per client IP.

Counters are keyed by what was typed, whether or not such an account exists, so the lockout
message cannot be used to discover accounts.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache


def _keys(email: str, ip: str | None) -> list[tuple[str, int]]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    keys = [(f"loginfail:email:{digest}", settings.LOGIN_FAILURE_LIMIT)]
    if ip:
        keys.append((f"loginfail:ip:{ip}", settings.LOGIN_IP_FAILURE_LIMIT))
    return keys


def is_locked(email: str, ip: str | None) -> bool:
    return any((cache.get(k) or 0) >= limit for k, limit in _keys(email, ip))


def register_failure(email: str, ip: str | None) -> None:
    for key, _limit in _keys(email, ip):
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW)


def reset(email: str) -> None:
    key, _ = _keys(email, None)[0]
    cache.delete(key)
