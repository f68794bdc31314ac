"""The domain's signals, turned into webhook deliveries (connected in ``WebhooksConfig.ready``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from leads import signals
from leads.models import Agent, Contact, Lead
from leads.serializers import AgentBriefSerializer, ContactSerializer, LeadSerializer

from .models import WebhookSubscription
from .services import webhooks_enqueue

logger = logging.getLogger(__name__)

Event = WebhookSubscription.Event


def _lead_data(lead: Lead) -> dict[str, Any]:
    fresh = Lead.objects.select_related("contact", "assigned_agent").get(pk=lead.pk)
    return dict(LeadSerializer(fresh).data)


def _agent(agent: Agent | None) -> dict[str, Any] | None:
    return dict(AgentBriefSerializer(agent).data) if agent is not None else None


def _announce(event_type: str, team_ids: Iterable[int | None], build: Any) -> None:
    """Turn a signal into deliveries; never let a failure here reach the change itself."""
    try:
        if WebhookSubscription.objects.filter(is_active=True).exists():
            webhooks_enqueue(event_type=event_type, data=build(), team_ids=team_ids)
    except Exception:
        logger.exception("could not record the %s webhook deliveries", event_type)


def on_lead_captured(sender: Any, lead: Lead, created: bool = True, **kwargs: Any) -> None:
    if created:
        _announce(Event.LEAD_CREATED, [lead.team_id], lambda: {"lead": _lead_data(lead)})


def on_lead_assigned(sender: Any, lead: Lead, agent: Agent, reason: str, **kwargs: Any) -> None:
    _announce(
        Event.LEAD_ASSIGNED,
        [lead.team_id],
        lambda: {"lead": _lead_data(lead), "agent": _agent(agent), "reason": reason},
    )


def on_lead_claimed(sender: Any, lead: Lead, agent: Agent, **kwargs: Any) -> None:
    """A claim both assigns the lead and accepts it."""
    on_lead_assigned(sender, lead=lead, agent=agent, reason=f"Claimed by {agent}")
    on_lead_accepted(sender, lead=lead, agent=agent)


def on_lead_accepted(sender: Any, lead: Lead, agent: Agent, **kwargs: Any) -> None:
    _announce(
        Event.LEAD_ACCEPTED,
        [lead.team_id],
        lambda: {"lead": _lead_data(lead), "agent": _agent(agent)},
    )


def on_lead_status_changed(
    sender: Any, lead: Lead, before: str, after: str, agent: Agent | None = None, **kwargs: Any
) -> None:
    _announce(
        Event.LEAD_STATUS_CHANGED,
        [lead.team_id],
        lambda: {"lead": _lead_data(lead), "from": before, "to": after, "by": _agent(agent)},
    )


def on_contact_changed(
    sender: Any, contact: Contact, fields: list[str], origin: str = "", **kwargs: Any
) -> None:
    teams = set(contact.leads.values_list("team_id", flat=True))
    _announce(
        Event.CONTACT_UPDATED,
        teams,
        lambda: {
            "contact": dict(ContactSerializer(contact).data),
            "fields": fields,
            "origin": origin,
        },
    )


def connect() -> None:
    """Listen to the domain (called once, from ``WebhooksConfig.ready``)."""
    signals.lead_captured.connect(on_lead_captured, dispatch_uid="webhooks.lead_captured")
    signals.lead_assigned.connect(on_lead_assigned, dispatch_uid="webhooks.lead_assigned")
    signals.lead_claimed.connect(on_lead_claimed, dispatch_uid="webhooks.lead_claimed")
    signals.lead_accepted.connect(on_lead_accepted, dispatch_uid="webhooks.lead_accepted")
    signals.lead_status_changed.connect(
        on_lead_status_changed, dispatch_uid="webhooks.lead_status_changed"
    )
    signals.contact_changed.connect(on_contact_changed, dispatch_uid="webhooks.contact_changed")
