"""The page cache, in one place: what a page computes from a team's data, kept until the team's
data changes.

- **What is cached:** fragments of pages, with Django's `{% cache %}` tag in the templates
  (dashboard cards, questionnaire summaries, My work, the evidence list, the audit trail), and
  the scores of assessments (`cached_per_object`, used by pages and the API).
- **Keys:** each fragment varies on a `PageKey`: the data versions of the teams it shows and
  the date (evidence expires by the calendar). The cache alias `template_fragments` carries the
  release in its prefix (settings.RELEASE), so a new release never reads the old markup.
- **Who invalidates:** the write services, by calling `team_changed(team_id)` in the
  transaction that changes the team's data. Nothing else does: reads, downloads and refused
  requests leave a team's cache alone. The audit trail, which shows those too, varies on the
  team's newest audit event instead (aigsec/audit/views.py).
- **Versions** are random tokens, never counters: if the cache loses a version key (eviction,
  restart), the next reader makes a new token rather than reusing an old number whose values
  may still be stored. A version is replaced at once and again at commit: the first makes the
  writer's own later reads miss; the second makes a value a concurrent reader computed from
  the data before the commit unreachable.
- **Expiry** (CACHE_SECONDS) bounds how long a change made outside the services (a manual SQL
  fix) can go unseen; a restore replaces every team's version (`forget_all`).
- **Outages:** the alias's backend turns cache errors into misses (aigsec/core/cache_backend.py):
  pages compute from the database.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

T = TypeVar("T")
CACHE_SECONDS = 600
_VERSION_KEY = "teamver:{}"


def _cache():
    # Django's `{% cache %}` tag uses this alias; scores and versions live beside the fragments.
    return caches["template_fragments"]


def _token() -> str:
    return secrets.token_hex(8)


def _bump_now(team_id: int) -> None:
    _cache().set(_VERSION_KEY.format(team_id), _token(), timeout=None)


def team_changed(team: Any) -> None:
    """The team's data changed (or is changing in the current transaction): for write services.
    `team` is a Team or its id."""
    team_id = getattr(team, "pk", team)
    _bump_now(team_id)
    transaction.on_commit(lambda: _bump_now(team_id))


def forget_all() -> None:
    """Every team's version replaced (after a restore: the data of all teams changed at once)."""
    from aigsec.accounts.models import Team  # at call time: the write services import this module

    for team_id in Team.objects.values_list("pk", flat=True).iterator():
        _bump_now(team_id)


def team_versions(team_ids: Iterable[int]) -> dict[int, str]:
    cache = _cache()
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


@dataclass(frozen=True)
class PageKey:
    """What a cached fragment varies on besides its own parameters: `{% cache key.seconds
    "name" key ... %}` (its str is the teams' versions and the date)."""

    stamp: str
    seconds: int = CACHE_SECONDS

    def __str__(self) -> str:
        return self.stamp


def page_key(team_ids: Iterable[int]) -> PageKey:
    teams = sorted(set(team_ids))
    versions = team_versions(teams)
    stamp = ",".join(f"{t}={versions[t]}" for t in teams)
    return PageKey(f"{stamp}|{timezone.localdate().isoformat()}")


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
    cache = _cache()
    today = timezone.localdate().isoformat()
    versions = team_versions(team_of.values())
    keys = {
        f"{namespace}:{oid}:{versions[team_id]}:{today}": oid for oid, team_id in team_of.items()
    }
    found = cache.get_many(list(keys))
    out = {keys[key]: value for key, value in found.items()}
    missing = [oid for oid in team_of if oid not in out]
    if missing:
        fresh = compute(missing)
        out.update(fresh)
        cache.set_many(
            {key: fresh[oid] for key, oid in keys.items() if oid in fresh and key not in found},
            CACHE_SECONDS,
        )
    return out
