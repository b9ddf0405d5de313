"""Failed-login throttling, cache-backed.

Three counters, each over LOGIN_FAILURE_WINDOW seconds:

- per (address, client IP): LOGIN_FAILURE_LIMIT failures lock that address *from that IP*.
  A stranger who knows someone's address locks out only themselves: the owner, from any other
  address, still signs in (a lockout per address alone let anyone lock anyone out);
- per client IP: LOGIN_IP_FAILURE_LIMIT failures, whatever the addresses, lock the IP;
- per address, across all IPs: LOGIN_ADDRESS_FAILURE_LIMIT, a ceiling far above what one IP
  can reach (its own limit stops it first), so that guessing one password from many addresses
  still ends; reaching it takes several IPs each spending its whole budget.

A completed password reset proves control of the mailbox and clears every counter of the
address (`reset_address`), from every IP; a complete sign-in clears the counter of the address
from that IP (`reset`). The IP counter is never cleared by either: it belongs to the IP.

Counters are keyed by what was typed, whether or not such an account exists, so the lockout
message cannot be used to discover accounts. The per-(address, IP) keys carry the address's
generation, a random token that a password reset replaces: one write clears them all.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.cache import cache


def _digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _generation(digest: str) -> str:
    # Outlives every counter of the generation before it, so an old key never comes back.
    return cache.get(f"loginfail:gen:{digest}") or "0"


def _keys(email: str, ip: str | None) -> list[tuple[str, int]]:
    """[(per address-and-IP key, limit), (per IP key, limit)] (the IP one when an IP is known)."""
    digest = _digest(email)
    keys = [
        (
            f"loginfail:pair:{digest}:{_generation(digest)}:{ip or '-'}",
            settings.LOGIN_FAILURE_LIMIT,
        )
    ]
    if ip:
        keys.append((f"loginfail:ip:{ip}", settings.LOGIN_IP_FAILURE_LIMIT))
    return keys


def _address_key(email: str) -> tuple[str, int]:
    return f"loginfail:email:{_digest(email)}", settings.LOGIN_ADDRESS_FAILURE_LIMIT


def is_locked(email: str, ip: str | None) -> bool:
    keys = [*_keys(email, ip), _address_key(email)]
    return any((cache.get(k) or 0) >= limit for k, limit in keys)


def register_failure(email: str, ip: str | None) -> None:
    for key, _limit in [*_keys(email, ip), _address_key(email)]:
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW)


def reset(email: str, ip: str | None = None) -> None:
    """A complete sign-in from `ip`: that IP's count for the address starts again."""
    key, _ = _keys(email, ip)[0]
    cache.delete(key)


def reset_address(email: str) -> None:
    """A completed password reset: every count of the address, from every IP, starts again."""
    digest = _digest(email)
    cache.set(
        f"loginfail:gen:{digest}", secrets.token_hex(8), timeout=2 * settings.LOGIN_FAILURE_WINDOW
    )
    cache.delete(_address_key(email)[0])
