"""Who answers a text to our number from a phone that is no agent's.

``/hooks/twilio/inbound/`` is the alerts app's (agents reply to alerts there); a text from
anyone else is handed to the handler another app registers here, from its ``ready()``: the
conversations with leads. The handler gets the stored event's id and Twilio's parameters,
runs inside the request's transaction, and returns the text to answer with ("" for none).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

OtherText = Callable[[int, Mapping[str, str]], str]

_handler: list[OtherText] = []


def register(handler: OtherText) -> None:
    """Answer texts from phones that are no agent's with ``handler`` (the last one wins)."""
    _handler[:] = [handler]


def unregister() -> None:
    _handler.clear()


def handler() -> OtherText | None:
    return _handler[0] if _handler else None
