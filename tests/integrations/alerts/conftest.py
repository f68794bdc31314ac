"""Real peers for the alert channels: a local Twilio API and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from integrations.alerts.models import AlertSettings, alert_settings_for
from leads.models import Agent, Territory

from .twilio_server import TwilioState, twilio_server

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
FROM_NUMBER = "+13055550000"


@pytest.fixture
def twilio(settings: Any) -> Iterator[TwilioState]:
    """SMS configured against a local Twilio API; yields what it received."""
    with twilio_server(ACCOUNT_SID, AUTH_TOKEN) as (url, state):
        settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
        settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
        settings.TWILIO_FROM_NUMBER = FROM_NUMBER
        settings.TWILIO_MESSAGING_SERVICE_SID = ""
        settings.TWILIO_API_BASE_URL = url
        yield state


@dataclass
class Mailbox:
    """What the SMTP server accepted, and the addresses it refuses."""

    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [message for _, rcpts, message in self.messages if address in rcpts]


@pytest.fixture
def smtp(settings: Any) -> Iterator[Mailbox]:
    """Mail sent through a real SMTP server in this process."""
    mailbox = Mailbox()
    with socket.socket() as probe:  # a free port: aiosmtpd checks itself on the port it has
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 5
        yield mailbox
    finally:
        controller.stop()


def known(agent: Agent) -> AlertSettings:
    """The agent's alert settings as the database holds them now."""
    return alert_settings_for(Agent.objects.get(pk=agent.pk))


@pytest.fixture
def solo(team, alice: Agent) -> Territory:
    """ZIP 33150, Alice's alone: every lead there is assigned to her."""
    territory = Territory.objects.create(team=team, name="Little River", zip_codes=["33150"])
    territory.agents.set([alice])
    alice.mobile_phone = "+13055550111"
    alice.save()
    return territory
