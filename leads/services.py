"""Writes to the domain. Views, tasks and admin actions call these; they hold the rules."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import routing, signals
from .data import LeadData
from .models import Activity, Agent, Consent, Contact, ContactEmail, ContactPhone, Lead


@dataclass(frozen=True)
class CaptureResult:
    lead: Lead
    created: bool


def lead_capture(*, data: LeadData) -> CaptureResult:
    """Store the inquiry in ``data`` as a lead on the right contact, and route it.

    Idempotent on ``(data.source, data.external_id)``: capturing the same inquiry again
    returns the lead made the first time, with ``created=False``, and changes nothing.
    The contact is found by normalised email, then by E.164 phone, or created; a repeat
    inquiry from a known person is a new lead on the same contact.
    """
    existing = Lead.objects.filter(source=data.source, external_id=data.external_id).first()
    if existing is not None:
        return CaptureResult(existing, created=False)
    try:
        with transaction.atomic():
            lead = _capture(data)
    except IntegrityError:
        # Another worker captured the same inquiry, or the same person, at the same moment;
        # the unique constraints kept one. Look again: either the lead exists now, or the
        # contact does and the second pass attaches to it.
        existing = Lead.objects.filter(source=data.source, external_id=data.external_id).first()
        if existing is not None:
            return CaptureResult(existing, created=False)
        with transaction.atomic():
            lead = _capture(data)
    transaction.on_commit(lambda: signals.lead_captured.send(sender=Lead, lead=lead, created=True))
    return CaptureResult(lead, created=True)


def _capture(data: LeadData) -> Lead:
    contact, known = _contact_for(data)
    lead = Lead.objects.create(
        contact=contact,
        team_id=data.team_id,
        source=data.source,
        external_id=data.external_id,
        raw_event_id=data.raw_event_id,
        received_at=data.received_at,
        **data.lead_fields(),
    )
    previous = contact.leads.exclude(pk=lead.pk).count() if known else 0
    if previous:
        kind = Activity.Kind.REPEAT_INQUIRY
        summary = f"Repeat inquiry via {data.source} ({previous} earlier lead(s) from this person)"
    else:
        kind = Activity.Kind.RECEIVED
        summary = f"Lead received via {data.source}"
    Activity.objects.create(
        contact=contact,
        lead=lead,
        kind=kind,
        summary=summary,
        data={"source": data.source, "external_id": data.external_id, "event": data.raw_event_id},
    )
    for consent in data.consents:
        Consent.objects.create(
            contact=contact,
            lead=lead,
            channel=consent.channel,
            granted=consent.granted,
            text=consent.text,
            origin=f"{data.source}: {data.source_detail}".rstrip(": "),
            evidence=consent.evidence,
            obtained_at=consent.obtained_at,
        )
    if not data.is_test:
        lead_route(lead=lead)
    return lead


def _contact_for(data: LeadData) -> tuple[Contact, bool]:
    """Find the person by email, then phone; create them if new. Returns (contact, known)."""
    contact: Contact | None = None
    if data.email:
        found = ContactEmail.objects.select_related("contact").filter(email=data.email).first()
        contact = found.contact if found else None
    if contact is None and data.phone:
        found_phone = (
            ContactPhone.objects.select_related("contact").filter(phone=data.phone).first()
        )
        contact = found_phone.contact if found_phone else None
    known = contact is not None
    if contact is None:
        contact = Contact.objects.create(
            first_name=data.first_name,
            last_name=data.last_name,
            email=data.email,
            phone=data.phone,
        )
    else:
        _fill_blanks(contact, data)
    # A new key joins the contact only when nobody else holds it: a phone shared by two
    # people with different emails stays with the first one.
    if data.email and not ContactEmail.objects.filter(email=data.email).exists():
        ContactEmail.objects.create(contact=contact, email=data.email)
    if data.phone and not ContactPhone.objects.filter(phone=data.phone).exists():
        ContactPhone.objects.create(contact=contact, phone=data.phone)
    return contact, known


def _fill_blanks(contact: Contact, data: LeadData) -> None:
    changed = []
    for name in ("first_name", "last_name", "email", "phone"):
        if not getattr(contact, name) and getattr(data, name):
            setattr(contact, name, getattr(data, name))
            changed.append(name)
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
        Activity.objects.create(
            contact=contact,
            kind=Activity.Kind.CONTACT_UPDATED,
            summary=f"Filled in {', '.join(changed)} from a {data.source} inquiry",
            data={"fields": changed, "origin": data.source},
        )


def lead_route(*, lead: Lead) -> routing.Decision:
    """Route ``lead`` with :func:`leads.routing.route` and record the decision."""
    decision = routing.route(lead)
    if decision.team_id is not None and lead.team_id is None:
        lead.team_id = decision.team_id
        lead.save(update_fields=["team", "updated_at"])
    if decision.agent is not None:
        lead_assign(lead=lead, agent=decision.agent, reason=decision.reason)
    else:
        Activity.objects.create(
            contact_id=lead.contact_id,
            lead=lead,
            kind=Activity.Kind.UNASSIGNED,
            summary=decision.reason,
            data={"territory": decision.territory.pk if decision.territory else None},
        )
    return decision


def lead_assign(
    *, lead: Lead, agent: Agent, reason: str, actor: AbstractBaseUser | None = None
) -> Lead:
    """Give ``lead`` to ``agent``, write the timeline and announce ``lead_assigned``."""
    lead.assigned_agent = agent
    lead.assigned_at = timezone.now()
    lead.save(update_fields=["assigned_agent", "assigned_at", "updated_at"])
    Activity.objects.create(
        contact_id=lead.contact_id,
        lead=lead,
        kind=Activity.Kind.ASSIGNED,
        actor_id=actor.pk if actor else None,
        summary=f"Assigned to {agent}: {reason}"[:500],
        data={"agent": agent.pk, "reason": reason},
    )
    transaction.on_commit(
        lambda: signals.lead_assigned.send(sender=Lead, lead=lead, agent=agent, reason=reason)
    )
    return lead
