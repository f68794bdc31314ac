"""The database cache that keeps the sign-in counters when there is no Redis."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from leads.cache import CounterDatabaseCache
from leads.models import CACHE_TABLE, CacheEntry


def counter_cache() -> CounterDatabaseCache:
    return CounterDatabaseCache(CACHE_TABLE, {})


@pytest.mark.django_db
def test_it_adds_to_a_count_and_keeps_the_expiry_the_count_was_set_with():
    cache = counter_cache()
    cache.add("fails", 0, timeout=60)
    expires = CacheEntry.objects.get().expires
    assert cache.incr("fails") == 1
    assert cache.incr("fails", 2) == 3
    assert cache.get("fails") == 3
    assert CacheEntry.objects.get().expires == expires


@pytest.mark.django_db
def test_it_refuses_to_add_to_a_missing_or_expired_key():
    cache = counter_cache()
    with pytest.raises(ValueError, match="not found"):
        cache.incr("fails")
    cache.set("fails", 4, timeout=-1)  # already expired
    assert CacheEntry.objects.count() == 1
    with pytest.raises(ValueError, match="not found"):
        cache.incr("fails")


@pytest.mark.django_db(transaction=True)
def test_counts_made_at_once_are_all_kept():
    cache = counter_cache()
    cache.add("fails", 0, timeout=60)

    def count_ten() -> None:
        try:
            for _ in range(10):
                counter_cache().incr("fails")
        finally:
            connection.close()

    threads = [threading.Thread(target=count_ten) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert cache.get("fails") == 40
