"""The one backoff: doubling from a base, capped, spread by jitter."""

from __future__ import annotations

import pytest

from integrations.lib.backoff import backoff


def test_it_doubles_from_the_base_after_each_failure():
    assert [backoff(n, base=30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_it_never_waits_longer_than_the_cap():
    assert [backoff(n, base=60, cap=3600) for n in (6, 7, 8, 40)] == [1920, 3600, 3600, 3600]


def test_a_first_attempt_numbered_zero_waits_the_base():
    assert backoff(0, base=5) == 5


@pytest.mark.parametrize("jitter", [0.1, 0.5])
def test_jitter_spreads_the_wait_around_it(jitter):
    waits = [backoff(3, base=10, jitter=jitter) for _ in range(200)]
    assert all(40 * (1 - jitter) <= w <= 40 * (1 + jitter) for w in waits)
    assert len(set(waits)) > 100


def test_a_huge_attempt_number_does_not_overflow():
    assert backoff(10_000, base=30) == 30 * 2**30
