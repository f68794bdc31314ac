"""How long to wait before trying again: the one backoff every retry in the code uses."""

from __future__ import annotations

import random

# 2 ** 30 times any base is longer than any retry window; a larger exponent only overflows.
MAX_DOUBLINGS = 30


def backoff(attempt: int, *, base: float, cap: float | None = None, jitter: float = 0.0) -> float:
    """The seconds to wait after failed attempt number ``attempt`` (1, 2, ...).

    Doubles from ``base`` (``base`` after the first failure, twice that after the second),
    up to ``cap`` when one is given. ``jitter`` spreads the wait uniformly over
    ``1 - jitter`` to ``1 + jitter`` times itself, so that many things failing together do
    not all try again at the same moment.
    """
    seconds = base * 2 ** min(max(attempt - 1, 0), MAX_DOUBLINGS)
    if cap is not None:
        seconds = min(seconds, cap)
    if jitter:
        seconds *= random.uniform(1 - jitter, 1 + jitter)  # noqa: S311 - jitter, not secrecy
    return seconds
