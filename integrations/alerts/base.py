"""What every alert channel shares: the facts of an alert, the channel interface, the error.

A channel turns one ``Delivery`` row into one message and says what became of it: a
``SendResult`` when the provider accepted it, a ``DeliveryError`` otherwise, which tells
the caller whether trying again can help (``permanent``) and whether the fault is ours
(``configuration``: credentials, sender, account), so operations are told.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from integrations.models import Delivery
from leads.models import Agent, Lead, RoutingDecision
from leads.routing import zip_facts


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
    status: str = Delivery.Status.SENT


@dataclass(frozen=True)
class AlertFacts:
    """What an alert says about a lead, whatever the channel."""

    lead: Lead
    agent: Agent
    kind: str
    source: str
    name: str
    lead_type: str
    place: str
    price: str
    message: str
    phone: str
    email: str
    link: str
    short_code: str
    routing: str
    sla_due_at: dt.datetime | None

    @property
    def headline(self) -> str:
        verbs: dict[str, str] = {
            Delivery.Kind.ASSIGNED: "New lead",
            Delivery.Kind.OFFERED: "Lead up for grabs",
            Delivery.Kind.ESCALATED: "Lead not accepted in time",
            Delivery.Kind.REMINDER: "Lead waiting for you",
        }
        return f"{verbs.get(self.kind, 'Lead')} from {self.source}"

    @property
    def call_to_action(self) -> str:
        if self.kind == Delivery.Kind.OFFERED:
            return "First to reply Y gets it"
        if self.kind == Delivery.Kind.ESCALATED:
            return "Open to reassign"
        return "Reply Y to accept"


SOURCE_NAMES = {
    "zillow": "Zillow",
    "zillow_rentals": "Zillow Rentals",
    "realtor": "Realtor.com",
    "facebook": "Facebook",
    "webform": "Web form",
    "api": "API",
}


def short_price(price: Decimal | None) -> str:
    """``$450k``, ``$1.25M``: prices as agents say them, short enough for a text."""
    if price is None:
        return ""
    value = float(price)
    if value >= 1_000_000:
        return f"${value / 1_000_000:.2f}".rstrip("0").rstrip(".") + "M"
    if value >= 1_000:
        return f"${value / 1_000:.0f}k"
    return f"${value:.0f}"


def place(lead: Lead) -> str:
    """The property's address, else its town and ZIP (the town found from the ZIP)."""
    if lead.property_address:
        return lead.property_address
    city = lead.property_city or (zip_facts(lead.property_zip)[0] if lead.property_zip else "")
    return " ".join(part for part in (city, lead.property_zip) if part)


def alert_facts(delivery: Delivery) -> AlertFacts:
    """The facts of ``delivery``'s alert, read fresh from the database (three queries)."""
    lead = Lead.objects.select_related("contact").get(pk=delivery.lead_id)
    agent = delivery.agent
    decision = (
        RoutingDecision.objects.filter(lead=lead)
        .order_by("-created_at", "-id")
        .only("reason")
        .first()
    )
    details = agent.include_contact_details
    return AlertFacts(
        lead=lead,
        agent=agent,
        kind=delivery.kind,
        source=SOURCE_NAMES.get(lead.source, lead.source.replace("_", " ").title()),
        name=lead.contact.full_name or "Someone",
        lead_type=lead.get_lead_type_display().lower(),
        place=place(lead),
        price=short_price(lead.price),
        message=lead.message,
        phone=lead.contact.phone if details else "",
        email=lead.contact.email if details else "",
        link=settings.SITE_URL + lead.get_short_url(),
        short_code=lead.short_code,
        routing=decision.reason if decision else "",
        sla_due_at=lead.sla_due_at,
    )


class Channel(ABC):
    """One way of reaching an agent. Subclasses set ``key`` and implement every method."""

    key: str = ""

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
    def send(self, delivery: Delivery, facts: AlertFacts) -> SendResult:
        """Send the alert; raise ``DeliveryError`` when it was not accepted."""

    @abstractmethod
    def flag_broken(self, agent: Agent, error: DeliveryError) -> None:
        """Record on the agent that this channel's address is refused for good, when
        ``error`` (a permanent one) says the address, not the message, is the problem."""
