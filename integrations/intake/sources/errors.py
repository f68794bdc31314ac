"""What a source raises: the request refused, the payload unreadable, or not readable yet."""

from __future__ import annotations

from collections.abc import Callable


class Refused(Exception):
    """The request did not prove who sent it: answer ``status`` and store nothing."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ParseError(Exception):
    """An authentic payload that cannot be turned into a lead; the message names the problem."""


class Ignored(Exception):
    """An authentic event that brings no lead, for a reason an operator should see (an email
    to an address no team has): the event is marked ``ignored`` with the message."""


class RetryLater(Exception):
    """The payload is fine but cannot be read now (a throttled API, a token to renew).

    The event stays ``received`` with the message as its error, and the sweeper leaves it
    alone for ``delay`` seconds. Waiting never fails the event by itself (``EVENT_MAX_ATTEMPTS``
    caps unexpected errors only): the source decides when it has waited long enough, and
    raises ``ParseError`` then. ``after`` runs once the attempt's own writes are rolled back,
    in the event's transaction: what must be kept although the attempt failed (a page marked
    as needing a new token).
    """

    def __init__(
        self, message: str, delay: float, after: Callable[[], object] | None = None
    ) -> None:
        super().__init__(message)
        self.delay = delay
        self.after = after
