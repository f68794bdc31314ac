"""The domain's signals, turned into webhook deliveries (connected in ``WebhooksConfig.ready``).

Each receiver is connected to its signal's ``in_transaction`` twin: the deliveries are written
in the transaction of the change itself (an outbox), so an event is never lost between the
change's commit and its deliveries. An error here undoes the change, which its own path
retries (an inbound event is swept and processed again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models.signals import post_delete, post_save

from leads import signals
from leads.models import Activity, Agent, Consent, Contact, Lead, Task
from leads.serializers import (
    AgentBriefSerializer,
    ContactSerializer,
    LeadSerializer,
    PersonSerializer,
)

from .models import WebhookSubscription
from .selectors import subscriptions_forget
from .services import webhooks_enqueue

Event = WebhookSubscription.Event


def _lead_data(lead: Lead) -> dict[str, Any]:
    fresh = Lead.objects.select_related("contact", "assigned_agent").get(pk=lead.pk)
    return dict(LeadSerializer(fresh).data)


def _agent(agent: Agent | None) -> dict[str, Any] | None:
    return dict(AgentBriefSerializer(agent).data) if agent is not None else None


def on_lead_captured(sender: Any, lead: Lead, created: bool = True, **kwargs: Any) -> None:
    if created:
        webhooks_enqueue(
            event_type=Event.LEAD_CREATED,
            team_ids=[lead.team_id],
            data=lambda: {"lead": _lead_data(lead)},
        )


def on_lead_assigned(sender: Any, lead: Lead, agent: Agent, reason: str, **kwargs: Any) -> None:
    webhooks_enqueue(
        event_type=Event.LEAD_ASSIGNED,
        team_ids=[lead.team_id],
        data=lambda: {"lead": _lead_data(lead), "agent": _agent(agent), "reason": reason},
    )


def on_lead_claimed(sender: Any, lead: Lead, agent: Agent, **kwargs: Any) -> None:
    """A claim both assigns the lead and accepts it."""
    on_lead_assigned(sender, lead=lead, agent=agent, reason=f"Claimed by {agent}")
    on_lead_accepted(sender, lead=lead, agent=agent)


def on_lead_accepted(sender: Any, lead: Lead, agent: Agent, **kwargs: Any) -> None:
    webhooks_enqueue(
        event_type=Event.LEAD_ACCEPTED,
        team_ids=[lead.team_id],
        data=lambda: {"lead": _lead_data(lead), "agent": _agent(agent)},
    )


def on_lead_status_changed(
    sender: Any, lead: Lead, before: str, after: str, agent: Agent | None = None, **kwargs: Any
) -> None:
    webhooks_enqueue(
        event_type=Event.LEAD_STATUS_CHANGED,
        team_ids=[lead.team_id],
        data=lambda: {"lead": _lead_data(lead), "from": before, "to": after, "by": _agent(agent)},
    )


def on_contact_changed(
    sender: Any, contact: Contact, fields: list[str], origin: str = "", **kwargs: Any
) -> None:
    webhooks_enqueue(
        event_type=Event.CONTACT_UPDATED,
        # Read only when somebody subscribes.
        team_ids=contact.leads.values_list("team_id", flat=True).distinct(),
        data=lambda: {
            "contact": dict(ContactSerializer(contact).data),
            "fields": fields,
            "origin": origin,
        },
    )
    _person_event(Event.PERSON_UPDATED, contact.pk, fields=fields, origin=origin)


def _person_data(contact_id: int) -> dict[str, Any]:
    person = Contact.objects.prefetch_related("emails", "phones", "tags").get(pk=contact_id)
    return dict(PersonSerializer(person).data)


def _person_event(event_type: str, contact_id: int, **more: Any) -> None:
    webhooks_enqueue(
        event_type=event_type,
        team_ids=Lead.objects.filter(contact_id=contact_id).values_list("team_id", flat=True),
        data=lambda: {"person": _person_data(contact_id), **more},
    )


def on_person_created(sender: Any, contact: Contact, origin: str = "", **kwargs: Any) -> None:
    _person_event(Event.PERSON_CREATED, contact.pk, origin=origin)


def on_people_imported(
    sender: Any, created: list[int], updated: list[int], origin: str = "", **kwargs: Any
) -> None:
    """An import's chunk (or a person added through the API): one event per person."""
    for contact_id in created:
        _person_event(Event.PERSON_CREATED, contact_id, origin=origin)
    for contact_id in updated:
        _person_event(Event.PERSON_UPDATED, contact_id, fields=[], origin=origin)


def on_note_added(
    sender: Any, lead: Lead, activity: Activity, agent: Agent | None = None, **kwargs: Any
) -> None:
    webhooks_enqueue(
        event_type=Event.NOTE_CREATED,
        team_ids=[lead.team_id],
        data=lambda: {
            "lead": _lead_data(lead),
            "note": {
                "id": activity.pk,
                "text": activity.data.get("text", ""),
                "created_at": activity.created_at,
            },
            "by": _agent(agent),
        },
    )


def on_contact_logged(
    sender: Any,
    lead: Lead,
    how: str,
    activity: Activity,
    agent: Agent | None = None,
    outcome: str = "",
    **kwargs: Any,
) -> None:
    if how != "call":
        return
    webhooks_enqueue(
        event_type=Event.CALL_LOGGED,
        team_ids=[lead.team_id],
        data=lambda: {
            "lead": _lead_data(lead),
            "call": {"id": activity.pk, "outcome": outcome, "logged_at": activity.created_at},
            "by": _agent(agent),
        },
    )


def on_people_merged(
    sender: Any, survivor: Contact, merged_id: int, merge: Any, **kwargs: Any
) -> None:
    _person_event(
        Event.PERSON_MERGED, survivor.pk, merged=merged_id,
        merge={"id": merge.pk, "reason": merge.reason, "created_at": merge.created_at},
    )  # fmt: skip


def _task_data(task: Task) -> dict[str, Any]:
    return {
        "id": task.pk, "kind": task.kind, "status": task.status, "due_at": task.due_at,
        "duration_minutes": task.duration_minutes, "location": task.location, "note": task.note,
        "agent": _agent(task.agent), "done_at": task.done_at, "created_at": task.created_at,
    }  # fmt: skip


def on_task_created(sender: Any, task: Task, agent: Agent | None = None, **kwargs: Any) -> None:
    webhooks_enqueue(
        event_type=Event.TASK_CREATED,
        team_ids=[task.lead.team_id],
        data=lambda: {"lead": _lead_data(task.lead), "task": _task_data(task), "by": _agent(agent)},
    )


def on_task_finished(sender: Any, task: Task, agent: Agent | None = None, **kwargs: Any) -> None:
    webhooks_enqueue(
        event_type=Event.TASK_COMPLETED,
        team_ids=[task.lead.team_id],
        data=lambda: {"lead": _lead_data(task.lead), "task": _task_data(task), "by": _agent(agent)},
    )


def on_lead_deleted(sender: Any, lead: Lead, **kwargs: Any) -> None:
    """Announced before the lead goes: its last state."""
    webhooks_enqueue(
        event_type=Event.LEAD_DELETED,
        team_ids=[lead.team_id],
        data=lambda: {"lead": _lead_data(lead)},
    )


def on_consent_changed(sender: Any, consent: Consent, **kwargs: Any) -> None:
    webhooks_enqueue(
        event_type=Event.CONSENT_CHANGED,
        team_ids=Lead.objects.filter(contact_id=consent.contact_id)
        .values_list("team_id", flat=True)
        .distinct(),
        data=lambda: {
            "contact": consent.contact_id,
            "lead": consent.lead_id,
            "channel": consent.channel,
            "granted": consent.granted,
            "text": consent.text,
            "origin": consent.origin,
            "evidence": consent.evidence,
            "obtained_at": consent.obtained_at.isoformat(),
        },
    )


def connect() -> None:
    """Listen to the domain (called once, from ``WebhooksConfig.ready``)."""
    receivers: dict[signals.DomainSignal, Callable[..., None]] = {
        signals.lead_captured: on_lead_captured,
        signals.lead_assigned: on_lead_assigned,
        signals.lead_claimed: on_lead_claimed,
        signals.lead_accepted: on_lead_accepted,
        signals.lead_status_changed: on_lead_status_changed,
        signals.contact_changed: on_contact_changed,
        signals.consent_changed: on_consent_changed,
        signals.person_created: on_person_created,
        signals.people_imported: on_people_imported,
        signals.note_added: on_note_added,
        signals.contact_logged: on_contact_logged,
        signals.lead_deleted: on_lead_deleted,
        signals.people_merged: on_people_merged,
        signals.task_created: on_task_created,
        signals.task_finished: on_task_finished,
    }
    for signal, receiver in receivers.items():
        signal.in_transaction.connect(receiver, dispatch_uid=f"webhooks.{receiver.__name__}")
    post_save.connect(
        subscriptions_forget, sender=WebhookSubscription, dispatch_uid="webhooks.saved"
    )
    post_delete.connect(
        subscriptions_forget, sender=WebhookSubscription, dispatch_uid="webhooks.deleted"
    )
