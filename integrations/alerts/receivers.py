"""The domain's signals, turned into alerts. Connected once, in ``AlertsConfig.ready``."""

from __future__ import annotations

from typing import Any

from leads import signals
from leads.models import Agent, Lead

from .models import AgentAlert
from .services import alerts_create


def on_lead_assigned(sender: Any, lead: Lead, agent: Agent, **kwargs: Any) -> None:
    alerts_create(lead=lead, agents=[agent], kind=AgentAlert.Kind.ASSIGNED)


def on_lead_offered(sender: Any, lead: Lead, agents: list[Agent], **kwargs: Any) -> None:
    alerts_create(lead=lead, agents=agents, kind=AgentAlert.Kind.OFFERED)


def on_lead_escalated(sender: Any, lead: Lead, managers: list[Agent], **kwargs: Any) -> None:
    """Managers hear of a lead nobody accepted in time. (The agent it goes to next is told
    by the assignment or offer the escalation made, like any other.)"""
    alerts_create(lead=lead, agents=managers, kind=AgentAlert.Kind.ESCALATED)


def connect() -> None:
    signals.lead_assigned.connect(on_lead_assigned, dispatch_uid="alerts.assigned")
    signals.lead_offered.connect(on_lead_offered, dispatch_uid="alerts.offered")
    signals.lead_escalated.connect(on_lead_escalated, dispatch_uid="alerts.escalated")
