"""The alert channels: one module per channel on one base class, listed here.

A new channel is one module with a :class:`~integrations.alerts.channels.base.Channel`
subclass and one line in ``CHANNELS`` (its key, stored on each alert, and its dotted path).
The alert model's choices, the admin and the services all read this registry; the order is
the order alerts are sent in (push first: one request to the phone, then SMS, the
fastest to be read, then email).
"""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from .base import Channel

CHANNELS: dict[str, str] = {
    "push": "integrations.alerts.channels.push.PushChannel",
    "sms": "integrations.alerts.channels.sms.SmsChannel",
    "email": "integrations.alerts.channels.email.EmailChannel",
}


@cache
def _load(path: str) -> Channel:
    channel_class: type[Channel] = import_string(path)
    return channel_class()


def get_channel(key: str) -> Channel:
    """The channel registered as ``key``; ``KeyError`` when there is none."""
    return _load(CHANNELS[key])


def channels() -> list[Channel]:
    """Every registered channel, in the registry's order."""
    return [get_channel(key) for key in CHANNELS]


def channel_choices() -> list[tuple[str, str]]:
    return [(key, get_channel(key).label) for key in CHANNELS]
