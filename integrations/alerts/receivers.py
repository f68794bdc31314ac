"""The domain's signals, turned into alerts. Connected once, in ``AlertsConfig.ready``."""

from __future__ import annotations

from typing import Any

from leads import signals
from leads.models import Agent, Lead, Task

from .models import AgentAlert, AlertSettings
from .services import alerts_create


def on_lead_assigned(
    sender: Any, lead: Lead, agent: Agent, reason: str, repeat: bool = False, **kwargs: Any
) -> None:
    """A new lead for the agent, or (``repeat``) a new inquiry from a person they already
    work with: "Jordan wrote again", with nothing to accept."""
    kind = AgentAlert.Kind.REPEAT if repeat else AgentAlert.Kind.ASSIGNED
    alerts_create(lead=lead, agents=[agent], kind=kind, routing=reason)


def on_lead_offered(sender: Any, lead: Lead, agents: list[Agent], **kwargs: Any) -> None:
    alerts_create(lead=lead, agents=agents, kind=AgentAlert.Kind.OFFERED)


def on_lead_escalated(sender: Any, lead: Lead, managers: list[Agent], **kwargs: Any) -> None:
    """Managers hear of a lead nobody accepted in time. (The agent it goes to next is told
    by the assignment or offer the escalation made, like any other.)"""
    alerts_create(lead=lead, agents=managers, kind=AgentAlert.Kind.ESCALATED)


def on_agent_settings_changed(sender: Any, agent: Agent, fields: list[str], **kwargs: Any) -> None:
    """A new phone number gets a fresh start: the problem the provider had was the old one's."""
    if "mobile_phone" in fields:
        AlertSettings.objects.filter(agent=agent).exclude(phone_problem="").update(phone_problem="")


def on_task_due(sender: Any, task: Task, **kwargs: Any) -> None:
    """A follow-up fell due: remind its agent on their channels. Heard inside the transaction
    that marks the follow-up reminded, so the alert rows exist exactly when the mark does."""
    alerts_create(
        lead=task.lead,
        agents=[task.agent],
        kind=AgentAlert.Kind.FOLLOW_UP,
        task=task,
        here_if_worker=False,
    )


def connect() -> None:
    signals.task_due.in_transaction.connect(on_task_due, dispatch_uid="alerts.task_due")
    signals.lead_assigned.connect(on_lead_assigned, dispatch_uid="alerts.assigned")
    signals.lead_offered.connect(on_lead_offered, dispatch_uid="alerts.offered")
    signals.lead_escalated.connect(on_lead_escalated, dispatch_uid="alerts.escalated")
    signals.agent_settings_changed.connect(on_agent_settings_changed, dispatch_uid="alerts.agent")
