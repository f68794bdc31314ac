"""The cache as a help, never a dependency: every call here fails open.

Redis (``REDIS_URL``) backs Django's default cache. Nothing a sender waits for may depend on
it (docs/architecture.md, "The path of a lead"): the web form's per-address limit and the
Zillow signing certificate are kept in the cache, and when it cannot be reached the limit
lets the request through and the certificate is fetched again. Each failure is logged (a
warning, without the key's value), so an outage shows in the logs and not as refused leads.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)


def _unavailable(operation: str, key: str, exc: Exception) -> None:
    logger.warning(
        "cache unavailable (%s %s: %s); going on without it", operation, key, type(exc).__name__
    )


def get(key: str, default: Any = None) -> Any:
    """The cached value, or ``default`` when there is none or the cache cannot be reached."""
    try:
        return cache.get(key, default)
    except Exception as exc:
        _unavailable("get", key, exc)
        return default


def set(key: str, value: Any, timeout: float) -> bool:
    """Cache ``value``; False when the cache cannot be reached."""
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as exc:
        _unavailable("set", key, exc)
        return False
    return True


def add(key: str, value: Any, timeout: float) -> bool | None:
    """Cache ``value`` unless ``key`` is there: True when added, False when it was there,
    None when the cache cannot be reached (the caller decides what not knowing means)."""
    try:
        return bool(cache.add(key, value, timeout=timeout))
    except Exception as exc:
        _unavailable("add", key, exc)
        return None


def count(key: str, window: float) -> int | None:
    """Add one to the counter ``key`` (a fixed window of ``window`` seconds from its first
    count) and return it; None when the cache cannot be reached."""
    try:
        cache.add(key, 0, timeout=window)
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            return 1
    except Exception as exc:
        _unavailable("count", key, exc)
        return None
