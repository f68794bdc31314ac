"""Alerts to agents: one module per channel on one base class, registered here.

A new channel is one module with a ``Channel`` subclass and one line in ``CHANNELS``.
"""

from __future__ import annotations

from .base import Channel
from .email import EmailChannel
from .sms import SmsChannel

CHANNELS: dict[str, Channel] = {
    SmsChannel.key: SmsChannel(),
    EmailChannel.key: EmailChannel(),
}
