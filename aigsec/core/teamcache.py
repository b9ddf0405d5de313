"""Derived figures of a team (scores, evidence freshness) cached under the team's data version.

Every audited change in a team (an `audit_record` with that team, which every service writing
answers, reviews, evidence or links makes) replaces the team's version: at once, and again when
the transaction commits. The first replacement makes the writer's own later reads, in the same
transaction, miss the cache; the second makes a value computed by a concurrent reader from the
data as it was before the commit unreachable, since the reader stored it under a version that
is then gone. Values are also keyed by the date (evidence expires by the calendar) and expire
after CACHE_SECONDS, which bounds how long a change made outside the services (a restore, a
manual SQL fix) can go unseen.

A version is a random token, never a counter: if the cache loses the version key (eviction,
restart), the next reader makes a new token rather than reusing an old number whose values
may still be stored. Cache errors never fail a page or a write: the figures are computed from
the database instead (docs/benchmarks.md, docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

log = logging.getLogger(__name__)

T = TypeVar("T")
CACHE_SECONDS = 600
CODE_DIRS = ("aigsec", "assessments", "evidence", "reports", "templates")
_VERSION_KEY = "teamver:{}"


@lru_cache(maxsize=1)
def code_stamp() -> str:
    """A digest of the code and templates: part of every key, so that values stored by another
    release (another shape, other markup) are never read after an upgrade."""
    digest = hashlib.sha256()
    root = Path(settings.BASE_DIR)
    for package in CODE_DIRS:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".html") and "migrations" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _token() -> str:
    return secrets.token_hex(8)


def _bump_now(team_id: int) -> None:
    try:
        cache.set(_VERSION_KEY.format(team_id), _token(), timeout=None)
    except Exception:  # a cache outage must not fail the write that changed the data
        log.warning("team cache: could not bump the version of team %s", team_id, exc_info=True)


def team_changed(team_id: int) -> None:
    """The team's data changed (or is changing in the current transaction)."""
    _bump_now(team_id)
    transaction.on_commit(lambda: _bump_now(team_id))


def forget_all() -> None:
    """Every team's version replaced (after a restore: the data of all teams changed at once,
    without audited writes)."""
    from aigsec.accounts.models import Team  # accounts imports the audit trail, which imports us

    for team_id in Team.objects.values_list("pk", flat=True).iterator():
        _bump_now(team_id)


def team_versions(team_ids: Iterable[int]) -> dict[int, str]:
    keys = {_VERSION_KEY.format(t): t for t in set(team_ids)}
    found = cache.get_many(list(keys))
    out: dict[int, str] = {}
    for key, team_id in keys.items():
        version = found.get(key)
        if version is None:
            version = _token()
            # Another process may have made one meanwhile: theirs wins, so both agree.
            if not cache.add(key, version, timeout=None):
                version = cache.get(key) or version
        out[team_id] = version
    return out


def cached_per_object(
    namespace: str,
    team_of: Mapping[int, int],
    compute: Callable[[list[int]], dict[int, T]],
) -> dict[int, T]:
    """`compute(ids)` for the objects `team_of` names (object id -> its team id), served from
    the cache where the object's team has not changed since the value was stored.

    `compute` must return a value for every id it is given, from the database only."""
    if not team_of:
        return {}
    today = timezone.localdate().isoformat()
    try:
        versions = team_versions(team_of.values())
        keys = {
            f"{namespace}:{code_stamp()}:{oid}:{versions[team_id]}:{today}": oid
            for oid, team_id in team_of.items()
        }
        found = cache.get_many(list(keys))
    except Exception:
        log.warning("team cache: unavailable, computing %s", namespace, exc_info=True)
        return compute(list(team_of))
    out = {keys[key]: value for key, value in found.items()}
    missing = [oid for oid in team_of if oid not in out]
    if missing:
        fresh = compute(missing)
        out.update(fresh)
        try:
            cache.set_many(
                {key: fresh[oid] for key, oid in keys.items() if oid in fresh and key not in found},
                CACHE_SECONDS,
            )
        except Exception:
            log.warning("team cache: could not store %s", namespace, exc_info=True)
    return out


def cached_for_teams(
    namespace: str, team_ids: Iterable[int], params: Iterable[object], compute: Callable[[], T]
) -> T:
    """`compute()`, a value that depends on the data of `team_ids` and on `params` only
    (which must have a stable `repr`), served from the cache while none of those teams has
    changed."""
    teams = sorted(set(team_ids))
    try:
        versions = team_versions(teams)
        stamp = ",".join(f"{t}={versions[t]}" for t in teams)
        digest = hashlib.sha256(f"{stamp}|{list(params)!r}".encode()).hexdigest()
        key = f"{namespace}:{code_stamp()}:{digest}:{timezone.localdate().isoformat()}"
        found = cache.get(key)
    except Exception:
        log.warning("team cache: unavailable, computing %s", namespace, exc_info=True)
        return compute()
    if found is not None:
        return found
    value = compute()
    try:
        cache.set(key, value, CACHE_SECONDS)
    except Exception:
        log.warning("team cache: could not store %s", namespace, exc_info=True)
    return value
