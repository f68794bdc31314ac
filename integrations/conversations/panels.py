"""What the conversations add to the agent's screens (registered in ``ready``): the thread
and its send box on the lead page, the "Unread reply" mark on the inbox's rows."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from leads.extensions import LeadPanel
from leads.models import Agent, Lead

from .models import Message
from .selectors import may_see_thread, sms_permission, thread, unread_contacts


def conversation_panel(request: Any, agent: Agent, lead: Lead) -> LeadPanel | None:
    """The thread, for the lead's agent and the team's manager only. Opening it as the
    lead's agent marks the person's texts read."""
    if not may_see_thread(user=request.user, lead=lead):
        return None
    contact = lead.contact
    messages = thread(contact_id=contact.pk, limit=100)
    now = timezone.now()
    if lead.assigned_agent_id == agent.pk:
        Message.objects.filter(
            contact_id=contact.pk, direction=Message.Direction.INBOUND, read_at__isnull=True
        ).update(read_at=now)
    waiting = next(
        (
            m
            for m in messages
            if m.kind == Message.Kind.GREETING
            and m.status == Message.Status.QUEUED
            and m.next_attempt_at
            and m.next_attempt_at > now
        ),
        None,
    )
    return LeadPanel(
        template="conversations/_thread.html",
        context={
            "name": contact.first_name or contact.full_name or contact.phone or "the person",
            "messages": messages,
            "permission": sms_permission(contact),
            "can_write": True,
            "waiting": waiting,
            "hours": settings.LEAD_SMS_HOURS or "any hour",
            "lead_pk": lead.pk,
            "now": now,
        },
    )


def unread_marks(agent: Agent, leads: list[Lead]) -> dict[int, list[str]]:
    """ "Unread reply" on the rows of leads whose person texted and nobody has read it: the
    agent's own leads (a manager's, the team's)."""
    if not leads:
        return {}
    # One query for the page's people, whoever's rows they are: the same query every page.
    unread = unread_contacts(contact_ids=[lead.contact_id for lead in leads])
    return {
        lead.pk: ["Unread reply"]
        for lead in leads
        if lead.contact_id in unread
        and (
            lead.assigned_agent_id == agent.pk
            or (agent.is_manager and lead.team_id == agent.team_id)
        )
    }
