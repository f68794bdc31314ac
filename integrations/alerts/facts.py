"""What an alert says about a lead, whatever the channel: read once, fresh, for each send."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from leads.followups import agent_zone
from leads.models import Agent, Lead, RoutingDecision, Task
from leads.routing import zip_facts

from .models import AgentAlert, alert_settings_for


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
    # A follow-up alert: what is due and when (the agent's wall clock), and where.
    task: str = ""
    task_place: str = ""

    @property
    def headline(self) -> str:
        if self.kind == AgentAlert.Kind.FOLLOW_UP:
            return f"Follow-up due: {self.task}"
        if self.kind == AgentAlert.Kind.REPEAT:
            first = self.lead.contact.first_name or "Your person"
            return f"{first} wrote again via {self.source}"
        verbs: dict[str, str] = {
            AgentAlert.Kind.ASSIGNED: "New lead",
            AgentAlert.Kind.OFFERED: "Lead up for grabs",
            AgentAlert.Kind.ESCALATED: "Lead not accepted in time",
            AgentAlert.Kind.REMINDER: "Lead waiting for you",
            AgentAlert.Kind.REPLIED: "Text from your lead",
        }
        return f"{verbs.get(self.kind, 'Lead')} from {self.source}"

    @property
    def call_to_action(self) -> str:
        if self.kind in (AgentAlert.Kind.FOLLOW_UP, AgentAlert.Kind.REPEAT):
            return "Open"
        if self.kind == AgentAlert.Kind.OFFERED:
            return "First to reply Y gets it"
        if self.kind == AgentAlert.Kind.ESCALATED:
            return "Open to reassign"
        if self.kind == AgentAlert.Kind.REPLIED:
            return "Open the conversation"
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


def alert_facts(
    alert: AgentAlert, *, lead: Lead | None = None, routing: str | None = None
) -> AlertFacts:
    """The facts of ``alert``, read fresh from the database (three queries), or taken from
    the ``lead`` (with its contact) and ``routing`` reason the caller has just written (the
    worker that routed the lead, sending its alerts right after the commit)."""
    if lead is None:
        lead = Lead.objects.select_related("contact").get(pk=alert.lead_id)
    agent = alert.agent
    if routing is None:
        decision = (
            RoutingDecision.objects.filter(lead=lead)
            .order_by("-created_at", "-id")
            .only("reason")
            .first()
        )
        routing = decision.reason if decision else ""
    details = alert_settings_for(agent).include_contact_details
    task, task_place = "", ""
    if alert.task_id is not None:
        due = Task.objects.filter(pk=alert.task_id).first()
        if due is not None:
            local = due.due_at.astimezone(agent_zone(agent))
            task = f"{due.get_kind_display().lower()} at {local:%-H:%M}"
            task_place = due.location
    if alert.kind == AgentAlert.Kind.FOLLOW_UP:
        details = True  # a follow-up is a call or text to make: the number is the point
    return AlertFacts(
        lead=lead,
        agent=agent,
        kind=alert.kind,
        source=SOURCE_NAMES.get(lead.source, lead.source.replace("_", " ").title()),
        name=lead.contact.full_name or "Someone",
        lead_type=lead.get_lead_type_display().lower(),
        place=place(lead),
        price=short_price(lead.price),
        # A reply's alert carries the person's text ("Jordan replied: ..."), not the inquiry.
        message=alert.body if alert.kind == AgentAlert.Kind.REPLIED else lead.message,
        phone=lead.contact.phone if details else "",
        email=lead.contact.email if details else "",
        link=settings.SITE_URL + lead.get_short_url(),
        short_code=lead.short_code,
        routing=routing,
        sla_due_at=lead.sla_due_at,
        task=task,
        task_place=task_place,
    )
