"""A Redis cache whose failures are misses: for the page cache only, which saves work and
never decides anything (aigsec/core/teamcache.py). Counters that must be right (rate limits)
stay on the default cache, whose errors propagate."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache.backends.redis import RedisCache

log = logging.getLogger(__name__)


class ForgivingRedisCache(RedisCache):
    def _warn(self, what: str) -> None:
        log.warning("page cache: %s failed; computing from the database", what, exc_info=True)

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        try:
            return super().get(key, default, version)
        except Exception:
            self._warn("get")
            return default

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except Exception:
            self._warn("get_many")
            return {}

    def set(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except Exception:
            self._warn("set")

    def set_many(self, data: Any, timeout: Any = None, version: Any = None) -> list[Any]:
        try:
            return super().set_many(data, timeout, version)
        except Exception:
            self._warn("set_many")
            return list(data)

    def add(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except Exception:
            self._warn("add")
            return False

    def delete(self, key: Any, version: Any = None) -> bool:
        try:
            return super().delete(key, version)
        except Exception:
            self._warn("delete")
            return False
