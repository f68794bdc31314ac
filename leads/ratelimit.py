"""Counting API requests per key in fixed windows, for the ``RateLimit-*`` headers.

Each key (a token, an integration, a user's session, an address) has a counter per window
that every web worker shares: in Redis when ``REDIS_URL`` is set (the ``throttle`` cache,
``INCR``), else in a database table (:class:`leads.models.RateCounter`, one upsert). The
window is fixed (600 a minute: the minute that started at :00), so the answer can say exactly
when the count starts again (``RateLimit-Reset``). A counter that cannot be reached lets the
request through: a rate limit protects the service, and refusing every request because a
counter is down would be the outage it is there to prevent.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.utils import timezone

from .models import RateCounter

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per ``period`` seconds."""

    limit: int
    period: int


def parse_rate(value: str) -> Rate:
    """``"600/min"``, ``"20/s"``, ``"10000/hour"``, ``"5000/day"`` as a :class:`Rate`;
    ``ValueError`` for anything else."""
    count, _, unit = value.strip().partition("/")
    period = PERIODS.get(unit.strip()[:1].lower())
    if not count.strip().isdigit() or int(count) < 1 or period is None:
        raise ValueError(f"{value!r} is not a rate such as 600/min, 20/s or 10000/hour.")
    return Rate(int(count), period)


@dataclass(frozen=True)
class Window:
    """Where a key stands in the current window: ``remaining`` is None when the count is not
    known (the counter could not be reached; the request was let through)."""

    limit: int
    period: int
    remaining: int | None
    reset: int

    @property
    def allowed(self) -> bool:
        return self.remaining is None or self.remaining >= 0

    def headers(self) -> dict[str, str]:
        """The IETF draft's fields (draft-ietf-httpapi-ratelimit-headers): the limit, what
        is left of it, the seconds until the window starts again, and the policy."""
        fields = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f"{self.limit};w={self.period}",
        }
        if self.remaining is not None:
            fields["RateLimit-Remaining"] = str(max(self.remaining, 0))
        return fields


def hit(key: str, rate: Rate, *, now: float | None = None) -> Window:
    """Count one request for ``key`` in the current window and say where it stands:
    ``remaining`` below zero when it is over the limit. Fails open (``remaining`` None)."""
    now = time.time() if now is None else now
    window = int(now // rate.period)
    reset = max(1, rate.period - int(now % rate.period))
    counter_key = f"ratelimit:{key}:{rate.period}:{window}"
    try:
        if settings.REDIS_URL:
            count = _count_in_cache(counter_key, rate.period)
        else:
            expires = dt.datetime.fromtimestamp((window + 1) * rate.period, tz=dt.UTC)
            count = _count_in_table(counter_key, expires)
    except Exception:
        logger.warning("rate limit counter unavailable for %s; letting the request through", key)
        return Window(rate.limit, rate.period, None, reset)
    return Window(rate.limit, rate.period, rate.limit - count, reset)


def _count_in_cache(key: str, period: int) -> int:
    cache = caches["throttle"]
    cache.add(key, 0, timeout=period + 1)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=period + 1)
        return 1


def _count_in_table(key: str, expires: dt.datetime) -> int:
    """One statement: insert the window's counter at 1 or add 1 to it, and read it back
    (PostgreSQL and SQLite 3.35+ both speak ``ON CONFLICT ... RETURNING``)."""
    name = connection.ops.quote_name
    table, key_, count, expires_ = map(
        name, (RateCounter._meta.db_table, "key", "count", "expires")
    )
    value = connection.ops.adapt_datetimefield_value(expires)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_}, {count}, {expires_}) VALUES (%s, 1, %s) "  # noqa: S608 - our own names
            f"ON CONFLICT ({key_}) DO UPDATE SET {count} = {table}.{count} + 1 RETURNING {count}",
            [key, value],
        )
        row = cursor.fetchone()
    return int(row[0])


def counters_forget(*, now: dt.datetime | None = None) -> int:
    """Delete the counters of windows that have ended; returns how many."""
    deleted, _ = RateCounter.objects.filter(expires__lt=now or timezone.now()).delete()
    return deleted
