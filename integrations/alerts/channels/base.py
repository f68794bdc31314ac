"""What every alert channel shares: the channel interface, its result and its error.

A channel turns one ``AgentAlert`` row into one message and says what became of it: a
``SendResult`` when the provider accepted it, a ``DeliveryError`` otherwise, which tells
the caller whether trying again can help (``permanent``) and whether the fault is ours
(``configuration``: credentials, sender, account), so operations are told.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from leads.models import Agent

if TYPE_CHECKING:
    from integrations.alerts.facts import AlertFacts
    from integrations.alerts.models import AgentAlert


class DeliveryError(Exception):
    """A send failed. ``permanent``: the same send can never succeed (a bad number, an
    opted-out phone); ``configuration``: our own setup is wrong and operations must act."""

    def __init__(
        self, message: str, *, permanent: bool = False, configuration: bool = False, code: str = ""
    ) -> None:
        super().__init__(message)
        self.permanent = permanent or configuration
        self.configuration = configuration
        self.code = code


@dataclass(frozen=True)
class SendResult:
    """The provider took the message: its id, and the status it reported."""

    provider_id: str
    status: str = "sent"


class Channel(ABC):
    """One way of reaching an agent. Subclasses set ``key`` and ``label`` and implement
    every method."""

    key: ClassVar[str]
    label: ClassVar[str]
    # In the agent's quiet hours this channel waits for their end (unless the lead is hot).
    waits_for_quiet_hours: ClassVar[bool] = False

    @abstractmethod
    def configured(self) -> bool:
        """Whether the settings this channel needs are all there."""

    @abstractmethod
    def reachable(self, agent: Agent) -> str:
        """Where this channel can reach ``agent``, whether or not they turned it off; ""
        when it cannot (no number, opted out, known broken)."""

    @abstractmethod
    def address(self, agent: Agent) -> str:
        """Where this channel reaches ``agent`` for an alert, or "" when they turned it off
        or it cannot reach them."""

    @abstractmethod
    def send(self, alert: AgentAlert, facts: AlertFacts) -> SendResult:
        """Send the alert; raise ``DeliveryError`` when it was not accepted."""

    @abstractmethod
    def flag_broken(self, agent: Agent, error: DeliveryError) -> None:
        """Record on the agent that this channel's address is refused for good, when
        ``error`` (a permanent one) says the address, not the message, is the problem."""
