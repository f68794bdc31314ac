"""Writes to the domain. Views, tasks and admin actions call these; they hold the rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models.constants import OnConflict
from django.utils import timezone

from . import followups, inputs, live, routing, signals
from .data import LeadData, PersonEvent
from .models import (
    API_TOKEN_PREFIX,
    DEFAULT_SLA_MINUTES,
    INTEGRATION_KEY_PREFIX,
    TAG_MAX_LENGTH,
    Activity,
    Agent,
    ApiToken,
    Consent,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactTag,
    Integration,
    Lead,
    LeadOffer,
    RoutingDecision,
    RuleMember,
    Task,
    Team,
)

MAX_ESCALATION_STEPS = 3


@dataclass(frozen=True)
class CaptureResult:
    lead: Lead
    created: bool


class CaptureConflict(Exception):
    """The same inquiry was captured by another transaction at the same moment: the caller's
    transaction must be rolled back (an event is then processed again, and finds the lead)."""


def lead_capture(*, data: LeadData) -> CaptureResult:
    """Store the inquiry in ``data`` as a lead on the right contact, and route it.

    Idempotent on ``(data.source, data.external_id)``: capturing the same inquiry again
    returns the lead made the first time, with ``created=False``, and changes nothing (unless
    ``data.is_update``: then :func:`lead_apply_source_update` brings the lead up to date).
    The contact is found by normalised email, then by E.164 phone, or created; a repeat
    inquiry from a known person is a new lead on the same contact.

    Runs in the caller's transaction when there is one, with no savepoint (each is a round
    trip): a person's address taken by another capture at the same moment is answered by the
    unique constraint (``ON CONFLICT DO NOTHING``) and the person found again; the same
    inquiry captured by another transaction at the same moment raises
    :class:`CaptureConflict` there, and is looked up again when the transaction is our own.
    """
    own = not transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic(savepoint=False):
            return _capture(data)
    except CaptureConflict:
        if not own:
            raise
    # Our own transaction was rolled back: the other one's lead is there now.
    with transaction.atomic(savepoint=False):
        return _capture(data)


@dataclass(frozen=True)
class _Known:
    """What the database knows of an inquiry before it is captured (:func:`_look_up`)."""

    lead_id: int | None
    by_email: dict[str, int]
    by_phone: dict[str, int]


def _look_up(data: LeadData) -> _Known:
    """The lead already made of ``data`` and the people who hold its addresses, in one query
    (the existing-lead check and the look-ups by email and by phone were three)."""
    quote = connection.ops.quote_name
    parts = [
        f"SELECT 0, '', {quote('id')} FROM {quote(Lead._meta.db_table)} "  # noqa: S608
        f"WHERE {quote('source')} = %s AND {quote('external_id')} = %s"
    ]
    params: list[Any] = [data.source, data.external_id]
    for kind, model, column, values in (
        (1, ContactEmail, "email", data.all_emails),
        (2, ContactPhone, "phone", data.all_phones),
    ):
        if values:
            marks = ", ".join(["%s"] * len(values))
            parts.append(
                f"SELECT {kind}, {quote(column)}, {quote('contact_id')} "  # noqa: S608
                f"FROM {quote(model._meta.db_table)} WHERE {quote(column)} IN ({marks})"
            )
            params += values
    lead_id = None
    by_email: dict[str, int] = {}
    by_phone: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for kind, key, pk in cursor.fetchall():
            if kind == 0:
                lead_id = pk
            else:
                (by_email if kind == 1 else by_phone)[key] = pk
    return _Known(lead_id, by_email, by_phone)


def _capture(data: LeadData) -> CaptureResult:
    known_now = _look_up(data)
    if known_now.lead_id is not None:
        existing = Lead.objects.get(pk=known_now.lead_id)
        if data.is_update:
            lead_apply_source_update(lead=existing, data=data)
        return CaptureResult(existing, created=False)
    contact, known = _contact_for(data, known_now)
    now = timezone.now()
    lead = Lead(
        contact=contact,
        team_id=data.team_id,
        source=data.source,
        external_id=data.external_id,
        raw_event_id=data.raw_event_id,
        received_at=data.received_at,
        **data.lead_fields(),
    )
    previous = contact.leads.count() if known else 0
    # Routed before it is inserted: the lead is written once, with its assignment.
    initial = RoutingDecision.Kind.INITIAL
    decided = None if data.is_test else _decide(lead, now, initial, {"new_person": not known})
    if not _insert(lead):
        raise CaptureConflict(f"{data.source} {data.external_id} was captured meanwhile.")
    if not known:  # after the lead: the person is the team's from now
        signals.person_created.announce(sender=Contact, contact=contact, origin=data.source)
    if previous:
        kind = Activity.Kind.REPEAT_INQUIRY
        summary = f"Repeat inquiry via {data.source} ({previous} earlier lead(s) from this person)"
    else:
        kind = Activity.Kind.RECEIVED
        summary = f"Lead received via {data.source}"
    received = Activity(
        contact=contact,
        lead=lead,
        kind=kind,
        summary=summary,
        data={"source": data.source, "external_id": data.external_id, "event": data.raw_event_id},
    )
    origin = f"{data.source}: {data.source_detail}".rstrip(": ")
    Consent.objects.bulk_create(
        Consent(
            contact=contact,
            lead=lead,
            channel=consent.channel,
            granted=consent.granted,
            text=consent.text,
            origin=origin,
            evidence=consent.evidence,
            obtained_at=consent.obtained_at,
        )
        for consent in data.consents
    )
    if decided is None:
        received.save()
    else:
        decision, _, repeat = decided
        _record(lead, decision, repeat, now=now, kind=initial, entries=[received])
    signals.lead_captured.announce(sender=Lead, lead=lead, created=True)
    return CaptureResult(lead, created=True)


def _insert(lead: Lead) -> bool:
    """Insert ``lead``; False when another transaction inserted the same inquiry meanwhile
    (``ON CONFLICT DO NOTHING``, where the database can say which rows it wrote)."""
    if not connection.features.can_return_columns_from_insert:
        lead.save(force_insert=True)  # an old SQLite: its write lock already keeps others out
        return True
    meta = Lead._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
    # What Model.save() inserts with, plus ON CONFLICT DO NOTHING: bulk_create(ignore_conflicts)
    # would not say whether the row was written, nor give its id.
    rows = Lead.objects.all()._insert(  # type: ignore[attr-defined]
        [lead], fields=fields, returning_fields=meta.db_returning_fields,
        on_conflict=OnConflict.IGNORE,
    )  # fmt: skip
    if not rows or rows[0] is None:
        return False
    for value, field in zip(rows[0], meta.db_returning_fields, strict=True):
        setattr(lead, field.attname, value)
    lead._state.adding, lead._state.db = False, connection.alias
    return True


# What a source's update may fill in on a lead: only what the lead does not know yet.
UPDATABLE_LEAD_FIELDS = (
    "message", "property_address", "property_city", "property_state", "property_zip",
    "mls_number", "price", "page_url",
)  # fmt: skip


def lead_apply_source_update(
    *, lead: Lead, data: LeadData, now: dt.datetime | None = None
) -> list[str]:
    """Bring ``lead`` up to date with news from its source about the same inquiry.

    Fills the lead's and the contact's empty fields from ``data``, merges ``data.extra`` into
    the lead's (the source's newest word wins) and, when the source now names another agent
    (``data.pinned_agent_id``), pins the lead to them and, unless it is a test lead or the
    agent is inactive, hands it over (:func:`lead_hand_over`). Writes one timeline entry
    saying what changed, and returns the names of the changed lead fields.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        filled = [
            name
            for name in UPDATABLE_LEAD_FIELDS
            if getattr(data, name) not in ("", None) and getattr(lead, name) in ("", None)
        ]
        for name in filled:
            setattr(lead, name, getattr(data, name))
        changed = list(filled)
        if data.extra and {**lead.extra, **data.extra} != lead.extra:
            lead.extra = {**lead.extra, **data.extra}
            changed.append("extra")
        new_agent = _repinned_agent(lead, data)
        if new_agent is not None:
            lead.pinned_agent = new_agent
            changed.append("pinned_agent")
        if changed:
            lead.save(update_fields=[*changed, "updated_at"])
        _fill_blanks(lead.contact, data)
        notes = [f"filled {', '.join(filled)}"] if filled else []
        if new_agent is not None:
            notes.append(f"pinned to {new_agent}")
        Activity.objects.create(
            contact_id=lead.contact_id, lead=lead, kind=Activity.Kind.SOURCE_UPDATE,
            summary=f"Updated via {data.source}: {'; '.join(notes) or 'no new facts'}"[:500],
            data={"fields": changed, "event": data.raw_event_id, "agent": lead.pinned_agent_id},
        )  # fmt: skip
        if new_agent is not None and not lead.is_test and new_agent.is_active:
            reason = f"{data.source} assigned the lead to {new_agent}"
            lead_hand_over(lead=lead, agent=new_agent, reason=reason, now=now)
    return changed


def _repinned_agent(lead: Lead, data: LeadData) -> Agent | None:
    """The agent the source now names for ``lead``, when that is news."""
    if data.pinned_agent_id is None or data.pinned_agent_id == lead.pinned_agent_id:
        return None
    return Agent.objects.filter(pk=data.pinned_agent_id).first()


def lead_hand_over(
    *,
    lead: Lead,
    agent: Agent,
    reason: str,
    actor: AbstractBaseUser | None = None,
    now: dt.datetime | None = None,
) -> Lead:
    """Give ``lead`` (locked by the caller) to ``agent`` outside the rules, with ``reason``.

    A lead nobody has contacted yet starts over for the new agent: it waits for their
    acceptance with a fresh deadline and its escalation from the first step. One already being
    worked keeps its status and goes on with the new agent. Open offers close. Nothing
    happens when the lead is the agent's already. The one path of a manager's reassignment
    and of a source naming another agent.
    """
    if lead.assigned_agent_id == agent.pk:
        return lead
    live.lead_changed(lead, agents=[lead.assigned_agent])  # the screens of the one it leaves
    now = now or timezone.now()
    if lead.first_contact_at is None and lead.status in (Lead.Status.NEW, Lead.Status.ACCEPTED):
        rule = lead.routing_rule
        minutes = rule.sla_minutes if rule else DEFAULT_SLA_MINUTES
        lead.status, lead.accepted_at = Lead.Status.NEW, None
        lead.sla_due_at = now + dt.timedelta(minutes=minutes)
    lead.escalation_step = 0
    lead.save(
        update_fields=["status", "accepted_at", "sla_due_at", "escalation_step", "updated_at"]
    )
    LeadOffer.objects.filter(lead=lead, status=LeadOffer.Status.OPEN).update(
        status=LeadOffer.Status.EXPIRED, closed_at=now
    )
    RoutingDecision.objects.create(
        lead=lead, kind=RoutingDecision.Kind.MANUAL, agent=agent, reason=reason[:1000]
    )
    if lead.assigned_agent_id is not None:
        # The previous agent's open follow-ups go on with the lead.
        Task.objects.filter(
            lead=lead, agent_id=lead.assigned_agent_id, status=Task.Status.OPEN
        ).update(agent=agent, updated_at=now)
    return lead_assign(lead=lead, agent=agent, reason=reason, actor=actor, now=now)


def _contact_for(data: LeadData, found: _Known, again: bool = True) -> tuple[Contact, bool]:
    """Find the person by email, then phone (the first address given that someone holds, as
    :func:`_look_up` ``found`` them); create them if new. Returns (contact, known)."""
    emails, phones = data.all_emails, data.all_phones
    holder = next((found.by_email[e] for e in emails if e in found.by_email), None)
    if holder is None:
        holder = next((found.by_phone[p] for p in phones if p in found.by_phone), None)
    if holder is None:
        contact = Contact.objects.create(
            first_name=data.first_name,
            last_name=data.last_name,
            email=emails[0] if emails else "",
            phone=phones[0] if phones else "",
        )
        if not _keys_add(contact, data, found) and again:
            # Another capture gave one of these addresses to a person at the same moment:
            # it is this person. Drop the one made here and take theirs.
            Contact.objects.filter(pk=contact.pk).delete()
            return _contact_for(data, _look_up(data), again=False)
    else:
        contact = Contact.objects.get(pk=holder)
        _fill_blanks(contact, data)
        _keys_add(contact, data, found)
    if data.tags:
        contact_tags_add(contact=contact, names=data.tags)
    return contact, holder is not None


def _keys_add(contact: Contact, data: LeadData, found: _Known) -> bool:
    """Give ``contact`` the addresses of ``data`` that nobody held when ``found``; False
    when someone took one of them since (a new key joins the contact only when nobody else
    holds it: a phone shared by two people with different emails stays with the first)."""
    wanted = 0
    written = 0
    for model, column, values in (
        (ContactEmail, "email", [e for e in data.all_emails if e not in found.by_email]),
        (ContactPhone, "phone", [p for p in data.all_phones if p not in found.by_phone]),
    ):
        if not values:
            continue
        wanted += len(values)
        quote = connection.ops.quote_name
        created = connection.ops.adapt_datetimefield_value(timezone.now())
        rows = ", ".join(["(%s, %s, %s)"] * len(values))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608 - quoted names only
                f"({quote('contact_id')}, {quote(column)}, {quote('created_at')}) "
                f"VALUES {rows} ON CONFLICT ({quote(column)}) DO NOTHING",
                [v for value in values for v in (contact.pk, value, created)],
            )
            written += cursor.rowcount
    return written == wanted


def contact_tags_add(*, contact: Contact, names: Sequence[str]) -> list[str]:
    """Put the tags ``names`` (trimmed, at most 50 characters each) on ``contact``; returns
    the ones it did not have. One query to read, one to write."""
    wanted = list(dict.fromkeys(n.strip()[:TAG_MAX_LENGTH] for n in names if n.strip()))
    have = set(ContactTag.objects.filter(contact=contact).values_list("name", flat=True))
    new = [name for name in wanted if name not in have]
    ContactTag.objects.bulk_create(
        [ContactTag(contact=contact, name=name) for name in new], ignore_conflicts=True
    )
    return new


def _fill_blanks(contact: Contact, data: LeadData) -> None:
    changed = []
    given = {
        "first_name": data.first_name,
        "last_name": data.last_name,
        "email": next(iter(data.all_emails), ""),
        "phone": next(iter(data.all_phones), ""),
    }
    for name, value in given.items():
        if not getattr(contact, name) and value:
            setattr(contact, name, value)
            changed.append(name)
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
        Activity.objects.create(
            contact=contact,
            kind=Activity.Kind.CONTACT_UPDATED,
            summary=f"Filled in {', '.join(changed)} from a {data.source} inquiry",
            data={"fields": changed, "origin": data.source},
        )
        signals.contact_changed.announce(
            sender=Contact, contact=contact, fields=changed, origin=data.source
        )


def person_event_record(*, data: LeadData, event: PersonEvent) -> Activity | None:
    """What a known person did at a source (viewed a property, searched): on their timeline,
    with no new lead. Their blanks are filled and new addresses and tags join them, as a
    capture would. Returns the timeline entry, or None when nobody has any of ``data``'s
    addresses (then it is a new person: the caller captures a lead instead)."""
    found = _look_up(data)
    if not found.by_email and not found.by_phone:
        return None
    with transaction.atomic():
        contact, _ = _contact_for(data, found)
        return Activity.objects.create(
            contact=contact,
            kind=Activity.Kind.SOURCE_EVENT,
            summary=event.summary[:500],
            data={"kind": event.kind, "source": data.source, "event": data.raw_event_id,
                  **event.facts},
        )  # fmt: skip


def consent_record(
    *,
    contact: Contact,
    channel: str,
    granted: bool,
    text: str,
    origin: str,
    evidence: dict[str, Any] | None = None,
    lead: Lead | None = None,
    obtained_at: dt.datetime | None = None,
) -> Consent:
    """Record a person's consent (or its withdrawal) on ``channel`` after capture: a STOP
    texted back, a START. The exact words are ``text`` and what proves it ``evidence``; the
    latest row of a channel is the person's answer. Announces ``consent_changed``."""
    with transaction.atomic():
        consent = Consent.objects.create(
            contact=contact,
            lead=lead,
            channel=channel,
            granted=granted,
            text=text,
            origin=origin[:120],
            evidence=evidence or {},
            obtained_at=obtained_at or timezone.now(),
        )
        verb = "gave" if granted else "withdrew"
        Activity.objects.create(
            contact=contact,
            lead=lead,
            kind=Activity.Kind.CONTACT_UPDATED,
            summary=f"{contact} {verb} {consent.get_channel_display()} consent ({origin})"[:500],
            data={"consent": consent.pk, "channel": channel, "granted": granted},
        )
        signals.consent_changed.announce(sender=Contact, consent=consent)
    return consent


def lead_assign(
    *,
    lead: Lead,
    agent: Agent,
    reason: str,
    actor: AbstractBaseUser | None = None,
    now: dt.datetime | None = None,
    repeat: bool = False,
) -> Lead:
    """Give ``lead`` to ``agent``, write the timeline and announce ``lead_assigned``
    (``repeat``: a person ``agent`` already works with wrote again; no clock runs)."""
    lead.assigned_agent = agent
    lead.assigned_at = now or timezone.now()
    lead.save(update_fields=["assigned_agent", "assigned_at", "updated_at"])
    return _assigned(lead, agent, reason, actor, repeat=repeat)


def _assigned(
    lead: Lead, agent: Agent, reason: str, actor: AbstractBaseUser | None, repeat: bool = False
) -> Lead:
    """The timeline entry and the announcement of an assignment already on ``lead``."""
    _assigned_entry(lead, agent, reason, actor).save()
    signals.lead_assigned.announce(
        sender=Lead, lead=lead, agent=agent, reason=reason, repeat=repeat
    )
    return lead


def _assigned_entry(
    lead: Lead, agent: Agent, reason: str, actor: AbstractBaseUser | None
) -> Activity:
    return Activity(
        contact_id=lead.contact_id,
        lead=lead,
        kind=Activity.Kind.ASSIGNED,
        actor_id=actor.pk if actor else None,
        summary=f"Assigned to {agent}: {reason}"[:500],
        data={"agent": agent.pk, "reason": reason},
    )


# --- Routing, claims, escalation -------------------------------------------------------------


@dataclass(frozen=True)
class ClaimResult:
    """``won`` when the claim took the lead; otherwise ``holder`` is who has it (or None)."""

    won: bool
    holder: Agent | None


def lead_route(
    *,
    lead: Lead,
    now: dt.datetime | None = None,
    kind: str = RoutingDecision.Kind.INITIAL,
    **route_options: Any,
) -> routing.Decision:
    """Route ``lead`` with :func:`leads.routing.route`, apply the decision and record it.

    Applies one of: an assignment (with the acceptance deadline of its rule), an offer to
    every eligible agent (first to claim), or the team's pool. The rule's rotation state is
    read under a row lock, so leads routed at the same moment never take the same turn.
    """
    now = now or timezone.now()
    decision, fields, repeat = _decide(lead, now, kind, route_options)
    lead.save(update_fields=fields)
    _record(lead, decision, repeat, now=now, kind=kind, entries=[])
    return decision


def _decide(
    lead: Lead, now: dt.datetime, kind: str, route_options: dict[str, Any]
) -> tuple[routing.Decision, list[str], bool]:
    """Decide where ``lead`` goes and put the decision on it (not saved: a new lead is
    inserted with it). Returns the decision, the lead's fields it set, and whether the lead
    goes straight to an agent who already works with the person (:func:`_works_with`)."""
    decision = routing.route(lead, now=now, lock=True, **route_options)
    if decision.team_id is not None and lead.team_id is None:
        lead.team_id = decision.team_id
    rule = decision.rule
    lead.routing_rule = rule
    sla = dt.timedelta(minutes=rule.sla_minutes if rule else DEFAULT_SLA_MINUTES)
    lead.sla_due_at = None if decision.to_pool else now + sla
    fields = ["team", "routing_rule", "sla_due_at", "updated_at"]
    if decision.agent is not None:  # the assignment in the same write (lead_assign's fields)
        lead.assigned_agent, lead.assigned_at = decision.agent, now
        fields += ["assigned_agent", "assigned_at"]
    repeat = decision.agent is not None and _works_with(lead, decision, kind)
    if repeat:  # no second acceptance clock (:func:`_wrote_again_entry`)
        lead.sla_due_at, lead.accepted_at, lead.status = None, now, Lead.Status.ACCEPTED
        fields += ["accepted_at", "status"]
    return decision, fields, repeat


def _record(
    lead: Lead,
    decision: routing.Decision,
    repeat: bool,
    *,
    now: dt.datetime,
    kind: str,
    entries: list[Activity],
) -> None:
    """Record a decision :func:`_decide` put on ``lead`` (saved by now): the weighted counts,
    the decision row, the timeline (``entries`` first, in the same INSERT) and the
    announcement of the assignment, the offer or the pool."""
    for agent_id, credit in decision.credits.items():
        RuleMember.objects.filter(rule=decision.rule, agent_id=agent_id).update(credit=credit)
    RoutingDecision.objects.create(
        lead=lead,
        kind=kind,
        rule=decision.rule,
        mode=decision.mode,
        agent=decision.agent,
        offered_to=[a.pk for a in decision.offered],
        matched=decision.matched,
        skipped=[s.as_dict() for s in decision.skipped],
        reason=decision.reason,
    )
    if decision.agent is not None:
        entries.append(_assigned_entry(lead, decision.agent, decision.reason, actor=None))
        if repeat:
            entries.append(_wrote_again_entry(lead, decision.agent))
        Activity.objects.bulk_create(entries)
        signals.lead_assigned.announce(
            sender=Lead, lead=lead, agent=decision.agent, reason=decision.reason, repeat=repeat
        )
    elif decision.offered:
        _offer(lead, decision.offered, decision.reason, entries)
    else:
        entries.append(
            Activity(
                contact_id=lead.contact_id,
                lead=lead,
                kind=Activity.Kind.UNASSIGNED,
                summary=decision.reason[:500],
            )
        )
        Activity.objects.bulk_create(entries)
        signals.lead_pooled.announce(sender=Lead, lead=lead, reason=decision.reason)


def _works_with(lead: Lead, decision: routing.Decision, kind: str) -> bool:
    """Whether a new inquiry went straight to an agent who already works with the person: an
    open lead of theirs the agent has accepted (one query, only for a direct placement)."""
    if kind != RoutingDecision.Kind.INITIAL or decision.mode != "direct" or not decision.agent:
        return False
    others = Lead.objects.filter(
        contact_id=lead.contact_id, assigned_agent=decision.agent, accepted_at__isnull=False
    )
    if lead.pk is not None:
        others = others.exclude(pk=lead.pk)
    return others.exclude(status__in=(Lead.Status.CLOSED_WON, Lead.Status.CLOSED_LOST)).exists()


def _wrote_again_entry(lead: Lead, agent: Agent) -> Activity:
    """A person the agent is working wrote again: the new inquiry is theirs, accepted at once
    (no second acceptance clock, no escalation; :func:`_decide` set it so), and they are told
    "Jordan wrote again" (``lead_assigned`` with ``repeat=True``)."""
    name = lead.contact.first_name or "The person"
    return Activity(
        contact_id=lead.contact_id, lead=lead, kind=Activity.Kind.ACCEPTED,
        summary=f"{name} wrote again: {agent} already works with them, so no acceptance clock",
        data={"repeat": True},
    )  # fmt: skip


def _offer(lead: Lead, agents: list[Agent], reason: str, entries: list[Activity]) -> None:
    LeadOffer.objects.bulk_create(
        [LeadOffer(lead=lead, agent=agent) for agent in agents], ignore_conflicts=True
    )
    LeadOffer.objects.filter(lead=lead, agent__in=agents).update(
        status=LeadOffer.Status.OPEN, closed_at=None
    )
    entries.append(
        Activity(
            contact_id=lead.contact_id,
            lead=lead,
            kind=Activity.Kind.OFFERED,
            summary=reason[:500],
            data={"agents": [a.pk for a in agents]},
        )
    )
    Activity.objects.bulk_create(entries)
    signals.lead_offered.announce(sender=Lead, lead=lead, agents=agents, reason=reason)


@transaction.atomic
def lead_accept(*, lead: Lead, agent: Agent, now: dt.datetime | None = None) -> bool:
    """The assigned agent accepts ``lead``: the acceptance clock stops. False if not theirs."""
    now = now or timezone.now()
    accepted = Lead.objects.filter(
        pk=lead.pk, assigned_agent=agent, accepted_at__isnull=True
    ).update(status=Lead.Status.ACCEPTED, accepted_at=now, sla_due_at=None, updated_at=now)
    if accepted:
        lead.refresh_from_db()
        Activity.objects.create(
            contact_id=lead.contact_id, lead=lead, kind=Activity.Kind.ACCEPTED,
            actor_id=agent.user_id, summary=f"Accepted by {agent}",
        )  # fmt: skip
        signals.lead_accepted.announce(sender=Lead, lead=lead, agent=agent)
    return bool(accepted)


def lead_claim(*, lead: Lead, agent: Agent, now: dt.datetime | None = None) -> ClaimResult:
    """``agent`` claims a lead from the pool or from an offer; atomic, the first claim wins.

    A single conditional UPDATE decides: of two claims at the same moment exactly one
    changes the row. The loser learns who has the lead. An agent may claim only a lead of
    their own team that is unassigned (pool) or offered to them; the agent it is assigned
    to "claims" it by accepting it.
    """
    now = now or timezone.now()
    if lead.assigned_agent_id == agent.pk:
        lead_accept(lead=lead, agent=agent, now=now)
        return ClaimResult(True, agent)
    offered = LeadOffer.objects.filter(lead=lead, agent=agent, status=LeadOffer.Status.OPEN)
    if lead.team_id != agent.team_id and not offered.exists():
        return ClaimResult(False, lead.assigned_agent)
    if not agent.is_active:
        return ClaimResult(False, lead.assigned_agent)
    with transaction.atomic():
        won = Lead.objects.filter(pk=lead.pk, assigned_agent__isnull=True).update(
            assigned_agent=agent, assigned_at=now, accepted_at=now, status=Lead.Status.ACCEPTED,
            sla_due_at=None, updated_at=now,
        )  # fmt: skip
        lead.refresh_from_db()
        if not won:
            return ClaimResult(False, lead.assigned_agent)
        LeadOffer.objects.filter(lead=lead, status=LeadOffer.Status.OPEN).exclude(
            agent=agent
        ).update(status=LeadOffer.Status.LOST, closed_at=now)
        LeadOffer.objects.filter(lead=lead, agent=agent).update(
            status=LeadOffer.Status.WON, closed_at=now
        )
        reason = f"Claimed by {agent}"
        RoutingDecision.objects.create(
            lead=lead, kind=RoutingDecision.Kind.CLAIM, agent=agent, reason=reason
        )
        Activity.objects.create(
            contact_id=lead.contact_id, lead=lead, kind=Activity.Kind.CLAIMED,
            actor_id=agent.user_id, summary=reason,
        )  # fmt: skip
        signals.lead_claimed.announce(sender=Lead, lead=lead, agent=agent)
    return ClaimResult(True, agent)


@transaction.atomic
def lead_record_contact(
    *, lead: Lead, agent: Agent, how: str, now: dt.datetime | None = None, outcome: str = ""
) -> None:
    """The first call, text or email to the person: stops the clock, moves a new lead on."""
    now = now or timezone.now()
    Lead.objects.filter(pk=lead.pk, first_contact_at__isnull=True).update(
        first_contact_at=now, sla_due_at=None, updated_at=now
    )
    before = lead.status
    moved = Lead.objects.filter(
        pk=lead.pk, status__in=(Lead.Status.NEW, Lead.Status.ACCEPTED)
    ).update(status=Lead.Status.CONTACTED)
    lead.refresh_from_db()
    if moved:
        _status_changed(lead, before, agent)
    activity = Activity.objects.create(
        contact_id=lead.contact_id, lead=lead, kind=Activity.Kind.CONTACTED,
        actor_id=agent.user_id,
        summary=f"{agent} called: talked" if outcome == "talked" else f"{agent} logged a {how}",
        data={"how": how, **({"outcome": outcome} if outcome else {})},
    )  # fmt: skip
    signals.contact_logged.announce(
        sender=Lead, lead=lead, how=how, activity=activity, agent=agent, outcome=outcome
    )
    live.lead_changed(lead)


def leads_escalate(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Move on every lead whose acceptance deadline has passed; returns how many moved.

    Safe on several workers at once: each lead is taken with ``SKIP LOCKED`` and its
    deadline checked again under the lock, so one worker escalates it, once per deadline.
    """
    now = now or timezone.now()
    due = list(
        Lead.objects.filter(
            sla_due_at__lte=now, accepted_at__isnull=True, first_contact_at__isnull=True
        ).values_list("pk", flat=True)[:limit]
    )
    moved = 0
    for pk in due:
        with transaction.atomic():
            lead = (
                Lead.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("contact", "routing_rule", "assigned_agent")
                .filter(
                    pk=pk,
                    sla_due_at__lte=now,
                    accepted_at__isnull=True,
                    first_contact_at__isnull=True,
                )
                .first()
            )
            if lead is None:
                continue
            _escalate(lead, now)
            moved += 1
    return moved


def _escalate(lead: Lead, now: dt.datetime) -> None:
    """Take the lead from whoever let its deadline pass and route it one step further."""
    step = lead.escalation_step + 1
    previous = lead.assigned_agent
    tried: set[int] = set()
    for agent_id, offered in lead.routing_decisions.values_list("agent_id", "offered_to"):
        tried.update([agent_id] if agent_id else [])
        tried.update(offered or [])
    LeadOffer.objects.filter(lead=lead, status=LeadOffer.Status.OPEN).update(
        status=LeadOffer.Status.EXPIRED, closed_at=now
    )
    lead.assigned_agent = None
    lead.assigned_at = None
    lead.escalation_step = step
    lead.save(update_fields=["assigned_agent", "assigned_at", "escalation_step", "updated_at"])
    escalation = RoutingDecision.Kind.ESCALATION
    if step > MAX_ESCALATION_STEPS:
        decision = lead_route(lead=lead, now=now, kind=escalation, pool=True)
    elif lead.routing_rule is None:
        # It was placed directly (listing agent, pinned, the person's agent): use the rules.
        decision = lead_route(lead=lead, now=now, kind=escalation, exclude=tried)
    else:
        decision = lead_route(
            lead=lead, now=now, kind=escalation, rule=lead.routing_rule, step=step, exclude=tried
        )
    Activity.objects.create(
        contact_id=lead.contact_id,
        lead=lead,
        kind=Activity.Kind.ESCALATED,
        summary=f"Not accepted in time (step {step}): {decision.reason}"[:500],
        data={"step": step, "previous_agent": previous.pk if previous else None},
    )
    managers: list[Agent] = []
    if step == 1 and lead.team_id is not None:
        managers = list(
            Agent.objects.filter(team_id=lead.team_id, role=Agent.Role.MANAGER, is_active=True)
        )
    signals.lead_escalated.announce(
        sender=Lead,
        lead=lead,
        step=step,
        previous_agent=previous,
        agent=decision.agent,
        offered=decision.offered,
        managers=managers,
        reason=decision.reason,
    )


# --- Working a lead from the agent's app ------------------------------------------------------


def _may_work(lead: Lead, agent: Agent) -> bool:
    """The assigned agent, or a manager of the lead's team."""
    return lead.assigned_agent_id == agent.pk or (
        agent.is_manager and lead.team_id is not None and lead.team_id == agent.team_id
    )


@transaction.atomic
def lead_set_status(
    *, lead: Lead, agent: Agent, status: str, now: dt.datetime | None = None
) -> Lead:
    """Move ``lead`` to ``status`` and write the timeline.

    Only the assigned agent or the team's manager may; anyone else gets ``PermissionDenied``,
    an unknown status ``ValueError``. A new lead moved on is accepted by the same stroke
    (its clock stops): the agent is plainly working it.
    """
    if not _may_work(lead, agent):
        raise PermissionDenied("Only the lead's agent or the team's manager may change it.")
    if status not in Lead.Status.values or status == Lead.Status.NEW:
        raise ValueError(f"status: {status!r} is not a status a lead can be moved to.")
    now = now or timezone.now()
    before = lead.status
    if before == status:
        return lead
    lead.status = status
    fields = ["status", "updated_at"]
    if lead.accepted_at is None and lead.assigned_agent_id is not None:
        lead.accepted_at, lead.sla_due_at = now, None
        fields += ["accepted_at", "sla_due_at"]
    lead.save(update_fields=fields)
    Activity.objects.create(
        contact_id=lead.contact_id, lead=lead, kind=Activity.Kind.STATUS_CHANGED,
        actor_id=agent.user_id,
        summary=f"{agent} moved it from {Lead.Status(before).label} to {lead.get_status_display()}",
        data={"from": before, "to": status},
    )  # fmt: skip
    _status_changed(lead, before, agent)
    return lead


def _status_changed(lead: Lead, before: str, agent: Agent | None) -> None:
    signals.lead_status_changed.announce(
        sender=Lead, lead=lead, before=before, after=lead.status, agent=agent
    )


def lead_add_note(*, lead: Lead, agent: Agent, text: str) -> Activity:
    """Add a note to the lead's timeline. The assigned agent or the team's manager only."""
    if not _may_work(lead, agent):
        raise PermissionDenied("Only the lead's agent or the team's manager may add notes.")
    text = text.strip()
    if not text:
        raise ValueError("text: a note cannot be empty.")
    with transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(updated_at=timezone.now())
        activity = Activity.objects.create(
            contact_id=lead.contact_id, lead=lead, kind=Activity.Kind.NOTE,
            actor_id=agent.user_id, summary=f"Note by {agent}: {text}"[:500], data={"text": text},
        )  # fmt: skip
        signals.note_added.announce(sender=Lead, lead=lead, activity=activity, agent=agent)
        live.lead_changed(lead)
    return activity


def lead_log_contact(
    *, lead: Lead, agent: Agent, how: str, outcome: str = "", now: dt.datetime | None = None
) -> None:
    """A call (with its ``outcome``), text or email the assigned agent or the team's manager
    made. Only a call where they talked (or a text or email sent) is first contact
    (:func:`lead_record_contact`: speed to contact, the status moves on); a voicemail, no
    answer or a bad number is an attempt, on the timeline, which accepts the lead for its
    assigned agent (they are plainly working it) but leaves it waiting for first contact."""
    if not _may_work(lead, agent):
        raise PermissionDenied("Only the lead's agent or the team's manager may log a contact.")
    if how not in CONTACT_METHODS:
        raise ValueError(f"how: {how!r} is not one of {', '.join(CONTACT_METHODS)}.")
    if how == "call" and outcome not in CALL_OUTCOMES:
        raise ValueError(f"outcome: {outcome!r} is not one of {', '.join(CALL_OUTCOMES)}.")
    if how != "call" or outcome == "talked":
        lead_record_contact(lead=lead, agent=agent, how=how, now=now, outcome=outcome)
        return
    now = now or timezone.now()
    with transaction.atomic():
        if lead.assigned_agent_id == agent.pk and lead.accepted_at is None:
            lead_accept(lead=lead, agent=agent, now=now)
        Lead.objects.filter(pk=lead.pk).update(updated_at=now)
        activity = Activity.objects.create(
            contact_id=lead.contact_id, lead=lead, kind=Activity.Kind.CALL_ATTEMPT,
            actor_id=agent.user_id, summary=f"{agent} called: {CALL_OUTCOMES[outcome].lower()}",
            data={"how": how, "outcome": outcome},
        )  # fmt: skip
        signals.contact_logged.announce(
            sender=Lead, lead=lead, how=how, activity=activity, agent=agent, outcome=outcome
        )


CALL_OUTCOMES = {
    "talked": "Talked",
    "voicemail": "Left voicemail",
    "no_answer": "No answer",
    "bad_number": "Wrong or bad number",
}
CONTACT_METHODS = ("call", "text", "email")


def lead_reassign(
    *, lead: Lead, manager: Agent, agent: Agent, reason: str = "", now: dt.datetime | None = None
) -> Lead:
    """A manager hands ``lead`` to ``agent`` of the same team.

    A lead nobody has contacted yet starts over for the new agent: it waits for their
    acceptance with a fresh deadline. One already being worked keeps its status and goes on
    with the new agent. Open offers close. Raises ``PermissionDenied`` unless ``manager``
    manages the lead's team, and ``ValueError`` when ``agent`` is not an active agent of it.
    """
    if not (manager.is_manager and lead.team_id is not None and lead.team_id == manager.team_id):
        raise PermissionDenied("Only the team's manager may reassign its leads.")
    if agent.team_id != lead.team_id or not agent.is_active:
        raise ValueError("agent: choose an active agent of the lead's team.")
    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        if lead.assigned_agent_id == agent.pk:
            return lead
        previous = lead.assigned_agent
        why = f"Reassigned by {manager}" + (f" from {previous}" if previous else "")
        why += f": {reason.strip()}" if reason.strip() else "."
        return lead_hand_over(lead=lead, agent=agent, reason=why, actor=manager.user, now=now)


AGENT_SETTINGS = ("mobile_phone", "is_paused", "time_zone", "working_hours")


@transaction.atomic
def agent_update_settings(
    *, agent: Agent, actor: Agent, also_changed: Sequence[str] = (), **changes: Any
) -> Agent:
    """Change an agent's own settings (phone, pause, time zone, working hours).

    An agent changes only their own; a manager also those of their team's agents. Unknown
    names raise ``ValueError``. The change is written to the agent's history in the admin
    (an agent's settings belong to no contact, so not to a lead's timeline), in one entry
    with ``also_changed``: what the page's other sections changed, in words.
    """
    if actor.pk != agent.pk and not (actor.is_manager and actor.team_id == agent.team_id):
        raise PermissionDenied("An agent changes only their own settings.")
    unknown = set(changes) - set(AGENT_SETTINGS)
    if unknown:
        raise ValueError(f"{', '.join(sorted(unknown))}: not a setting an agent can change.")
    changed = [name for name, value in changes.items() if getattr(agent, name) != value]
    if not changed and not also_changed:
        return agent
    for name in changed:
        setattr(agent, name, changes[name])
    if changed:
        agent.save(update_fields=changed)
        signals.agent_settings_changed.announce(sender=Agent, agent=agent, fields=changed)
    labels = [str(getattr(Agent._meta.get_field(name), "verbose_name", name)) for name in changed]
    LogEntry.objects.log_actions(
        actor.user_id, [agent], CHANGE, [{"changed": {"fields": [*labels, *also_changed]}}],
        single_object=True,
    )  # fmt: skip
    return agent


# --- API tokens and availability (the REST API) ------------------------------------------------


def api_token_digest(raw: str) -> str:
    """The SHA-256 (hex) of a token as the client sends it: what is stored and looked up."""
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Make a new API token for ``user``; return it and the token itself, to show once.

    The token is ``lla_`` and 43 URL-safe characters (256 random bits); only its SHA-256 and
    its first 12 characters are kept. ``ValueError`` when ``name`` is empty or holds a
    control character.
    """
    name = name.strip()
    if not name:
        raise ValueError("name: give the token a name, e.g. what it is for.")
    try:
        inputs.check_id(name, "name")
    except inputs.InputError as exc:
        raise ValueError(exc.message) from exc
    raw = _new_key(API_TOKEN_PREFIX)
    token = ApiToken.objects.create(
        user_id=user.pk, name=name[:100], prefix=raw[:12], digest=api_token_digest(raw)
    )
    return token, raw


def _new_key(prefix: str) -> str:
    """A key: ``prefix`` and 43 URL-safe characters (256 random bits)."""
    return prefix + secrets.token_urlsafe(32)


def api_token_revoke(*, token: ApiToken, user: AbstractBaseUser | None = None) -> ApiToken:
    """Revoke ``token`` now (idempotent). With ``user``, only that user's own token."""
    if user is not None and token.user_id != user.pk:
        raise PermissionDenied("A token is revoked by its owner or in the admin.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def integration_create(
    *,
    name: str,
    team: Team,
    source: str,
    scopes: Sequence[str],
    rate_limit: str = "",
) -> tuple[Integration, str]:
    """Make an integration of ``team`` and its key; return both (the key, to show once).

    ``ValueError`` naming the field when the name is empty, a scope unknown or the source
    already another integration's.
    """
    integration = Integration(
        name=name.strip()[:100], team=team, source=source.strip().lower(), rate_limit=rate_limit
    )
    integration.scopes = _scopes(scopes)
    if not integration.name:
        raise ValueError("name: give the integration a name, e.g. IDX website.")
    if Integration.objects.filter(source=integration.source).exists():
        raise ValueError(f"source: {integration.source!r} is another integration's source.")
    raw = integration_key_set(integration=integration)
    return integration, raw


def _scopes(scopes: Sequence[str]) -> list[str]:
    unknown = set(scopes) - set(Integration.Scope.values)
    if unknown:
        raise ValueError(f"scopes: {', '.join(sorted(unknown))} is not a scope.")
    return [scope for scope in Integration.Scope.values if scope in scopes]


def integration_key_set(*, integration: Integration) -> str:
    """Give ``integration`` a new key (saving it); the old one stops working at once.
    Returns the new key, to show once."""
    raw = _new_key(INTEGRATION_KEY_PREFIX)
    integration.prefix, integration.digest = raw[:12], api_token_digest(raw)
    integration.revoked_at = None
    integration.save()
    return raw


def integration_revoke(*, integration: Integration) -> Integration:
    """Stop ``integration``'s key now (idempotent); a new key brings it back."""
    if integration.revoked_at is None:
        integration.revoked_at = timezone.now()
        integration.save(update_fields=["revoked_at"])
    return integration


def agent_set_availability(
    *, agent: Agent, actor: Agent, is_paused: bool | None = None, daily_capacity: int | None = None
) -> Agent:
    """Pause or resume ``agent`` and set their daily capacity (0: no limit).

    Pausing follows :func:`agent_update_settings` (the agent themselves or their team's
    manager); the capacity is the manager's to set. ``PermissionDenied`` otherwise.
    """
    if daily_capacity is not None and daily_capacity != agent.daily_capacity:
        if not (actor.is_manager and actor.team_id == agent.team_id):
            raise PermissionDenied("Only the team's manager sets an agent's daily capacity.")
        if daily_capacity < 0:
            raise ValueError("daily_capacity: 0 (no limit) or more.")
        agent.daily_capacity = daily_capacity
        agent.save(update_fields=["daily_capacity"])
        LogEntry.objects.log_actions(
            actor.user_id, [agent], CHANGE, [{"changed": {"fields": ["daily capacity"]}}],
            single_object=True,
        )  # fmt: skip
    if is_paused is not None:
        agent_update_settings(agent=agent, actor=actor, is_paused=is_paused)
    return agent


# --- Follow-ups ---------------------------------------------------------------------------------

SHOWING_MINUTES = 60
TASK_VERBS: dict[str, str] = {
    Task.Kind.CALL: "Call",
    Task.Kind.TEXT: "Text",
    Task.Kind.EMAIL: "Email",
    Task.Kind.SHOWING: "Showing for",
}


def task_title(task: Task, name: str) -> str:
    """``Call Jordan Lee``, ``Showing for Jordan Lee``."""
    return f"{TASK_VERBS.get(task.kind, task.get_kind_display())} {name or 'the lead'}"


@transaction.atomic
def task_create(
    *,
    lead: Lead,
    agent: Agent,
    kind: str,
    due_at: dt.datetime,
    location: str = "",
    note: str = "",
    now: dt.datetime | None = None,
) -> Task:
    """A follow-up on ``lead`` for ``agent`` (the lead's agent or the team's manager) at
    ``due_at``. A showing is an hour at ``location`` (the property's address when none is
    given). Raises ``PermissionDenied`` or ``ValueError`` (an unknown kind, a time long past)."""
    if not _may_work(lead, agent):
        raise PermissionDenied("Only the lead's agent or the team's manager may set follow-ups.")
    if kind not in Task.Kind.values:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(Task.Kind.values)}.")
    now = now or timezone.now()
    if due_at < now - dt.timedelta(days=1):
        raise ValueError("due_at: a follow-up cannot be set in the past.")
    location = location.strip()
    if kind == Task.Kind.SHOWING and not location:
        location = ", ".join(
            part
            for part in (lead.property_address, lead.property_city, lead.property_state)
            if part
        )
    task = Task.objects.create(
        lead=lead,
        agent=agent,
        kind=kind,
        due_at=due_at,
        duration_minutes=SHOWING_MINUTES if kind == Task.Kind.SHOWING else 15,
        location=location[:255],
        note=note.strip()[:200],
        created_by_id=agent.user_id,
    )
    local = timezone.localtime(due_at, followups.agent_zone(agent))
    Activity.objects.create(
        contact_id=lead.contact_id, lead=lead, kind=Activity.Kind.TASK_SET,
        actor_id=agent.user_id,
        summary=f"{agent} set a follow-up: {task.get_kind_display().lower()} "
        f"{local:%a %b %-d, %-H:%M}" + (f" at {task.location}" if task.location else ""),
        data={"task": task.pk, "kind": kind, "due_at": due_at.isoformat()},
    )  # fmt: skip
    Lead.objects.filter(pk=lead.pk).update(updated_at=now)
    signals.task_created.announce(sender=Task, task=task, agent=agent)
    return task


def _may_do(task: Task, agent: Agent) -> bool:
    return task.agent_id == agent.pk or (
        agent.is_manager and task.lead.team_id is not None and task.lead.team_id == agent.team_id
    )


@transaction.atomic
def task_finish(
    *, task: Task, agent: Agent, status: str = Task.Status.DONE, now: dt.datetime | None = None
) -> Task:
    """Mark an open follow-up done (or canceled); its agent or the team's manager only.
    A follow-up already finished stays as it is."""
    if not _may_do(task, agent):
        raise PermissionDenied("Only the follow-up's agent or the team's manager may finish it.")
    if status not in (Task.Status.DONE, Task.Status.CANCELED):
        raise ValueError(f"status: {status!r} is not done or canceled.")
    now = now or timezone.now()
    finished = Task.objects.filter(pk=task.pk, status=Task.Status.OPEN).update(
        status=status, done_at=now, updated_at=now
    )
    task.refresh_from_db()
    if finished:
        word = "done" if status == Task.Status.DONE else "canceled"
        Activity.objects.create(
            contact_id=task.lead.contact_id, lead_id=task.lead_id, kind=Activity.Kind.TASK_DONE,
            actor_id=agent.user_id,
            summary=f"{agent} marked the follow-up ({task.get_kind_display().lower()}) {word}",
            data={"task": task.pk, "status": status},
        )  # fmt: skip
        signals.task_finished.announce(sender=Task, task=task, agent=agent)
    return task


def tasks_remind(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Announce every open follow-up that has fallen due and was not announced yet
    (``signals.task_due``), marking it reminded in the same transaction; returns how many.
    Safe on several workers at once (``SKIP LOCKED``): each is announced once."""
    now = now or timezone.now()
    announced = 0
    with transaction.atomic():
        due = list(
            Task.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("lead", "agent")
            .filter(status=Task.Status.OPEN, reminded_at__isnull=True, due_at__lte=now)
            .order_by("due_at")[:limit]
        )
        for task in due:
            Task.objects.filter(pk=task.pk).update(reminded_at=now)
            task.reminded_at = now
            signals.task_due.announce(sender=Task, task=task)
            announced += 1
    return announced


def calendar_token_renew(*, agent: Agent) -> str:
    """Give the agent a new secret calendar feed address (the old one stops working)."""
    token = secrets.token_urlsafe(32)
    Agent.objects.filter(pk=agent.pk).update(calendar_token=token)
    agent.calendar_token = token
    return token


def calendar_token_revoke(*, agent: Agent) -> None:
    """Turn the agent's calendar feed off."""
    Agent.objects.filter(pk=agent.pk).update(calendar_token=None)
    agent.calendar_token = None
