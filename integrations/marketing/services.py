"""Writes of the marketing sync: pushing contacts out, taking the platform's changes in.

CRM to platform: a change to a contact or its leads marks its :class:`SyncState` due (after
``MARKETING_PUSH_DELAY_SECONDS``, so a burst makes one push) and rings the queue; the push
sends the contact's current facts with ``status_if_new`` only. Platform to CRM: webhook
events and the reconciliation's members update the contact field by field, newest change
first, except that an unsubscribe or a bounce always wins. Whatever came from the platform
is recorded with origin ``mailchimp`` and never pushed back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from integrations.lib.backoff import backoff
from integrations.lib.queue import enqueue_on_commit
from leads import signals
from leads.models import Activity, Agent, Consent, Contact, ContactEmail, Lead
from leads.normalize import normalize_email, normalize_phone

from .base import (
    BatchOutcome,
    ErrorKind,
    MarketingBackend,
    MarketingError,
    MarketingEvent,
    Member,
    MemberUpdate,
    Status,
    active_backend,
)
from .models import SyncRun, SyncState

logger = logging.getLogger(__name__)

PUSH_TASK = "integrations.marketing.tasks.push"
FULL_SYNC_TASK = "integrations.marketing.tasks.full_sync"
ORIGIN = "mailchimp"  # the origin our own changes from the platform carry
CRM = "crm"
LEASE = dt.timedelta(minutes=5)
# Contact fields the platform may change (its profile form, upemail).
REMOTE_FIELDS = ("first_name", "last_name", "phone")
# Subscription states the platform decides alone: a CRM push never overrides them.
OPTED_OUT = frozenset({Contact.MarketingStatus.UNSUBSCRIBED, Contact.MarketingStatus.CLEANED})


# --- Marking contacts due ----------------------------------------------------------------


def marketing_mark(
    *,
    contact_id: int,
    fields: Iterable[str] = (),
    origin: str = CRM,
    now: dt.datetime | None = None,
) -> SyncState | None:
    """Mark the contact due for a push and ring the queue after commit.

    ``fields`` changed in the CRM are recorded with their time, so a later, older change
    from the platform does not overwrite them. Returns the state, or None when the sync is off.
    """
    if active_backend() is None:
        return None
    now = now or timezone.now()
    delay = dt.timedelta(seconds=settings.MARKETING_PUSH_DELAY_SECONDS)
    state, _ = SyncState.objects.get_or_create(contact_id=contact_id)
    changes = dict(state.field_changes)
    for name in fields:
        changes[name] = {"origin": origin, "at": now.isoformat()}
    due_at = now + delay
    SyncState.objects.filter(pk=state.pk).update(
        # Never earlier than it is: a push holding the row keeps its lease (it pushes this
        # change again when it ends), a retry's backoff is waited out.
        due_at=Case(When(due_at__gt=due_at, then=F("due_at")), default=Value(due_at)),
        version=F("version") + 1,
        field_changes=changes,
    )
    enqueue_on_commit(PUSH_TASK, contact_id, task_name=f"marketing-{contact_id}-{state.version}")
    return state


# --- What to tell the platform about a contact -------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What a push needs beyond the contact: its latest lead and its marketing consent."""

    lead: Lead | None
    consent: Consent | None
    sms: Consent | None = None  # the latest SMS consent: a STOP texted back shows as a tag


def facts_for(contact_ids: Sequence[int]) -> dict[int, Facts]:
    """The latest lead (with its agent) and the latest marketing-email consent of each
    contact, in two queries whatever the number of contacts."""
    leads: dict[int, Lead] = {}
    for lead in (
        Lead.objects.filter(contact_id__in=contact_ids)
        .select_related("assigned_agent")
        .order_by("contact_id", "-received_at", "-id")
    ):
        leads.setdefault(lead.contact_id, lead)
    consents: dict[int, Consent] = {}
    sms: dict[int, Consent] = {}
    for consent in Consent.objects.filter(
        contact_id__in=contact_ids,
        channel__in=[Consent.Channel.MARKETING_EMAIL, Consent.Channel.SMS],
    ).order_by("contact_id", "-obtained_at", "-id"):
        mine = sms if consent.channel == Consent.Channel.SMS else consents
        mine.setdefault(consent.contact_id, consent)
    return {cid: Facts(leads.get(cid), consents.get(cid), sms.get(cid)) for cid in contact_ids}


def status_if_new(contact: Contact, consent: Consent | None) -> Status | None:
    """The status a member made now would get; None: keep the contact out of the audience.

    Whoever opted out or bounced stays out; only a granted consent (or a subscription the
    platform itself told us of) subscribes; anyone else is transactional, or skipped.
    """
    if contact.marketing_status in OPTED_OUT:
        return Status.UNSUBSCRIBED
    if contact.marketing_status == Contact.MarketingStatus.SUBSCRIBED or (
        consent is not None and consent.granted
    ):
        return Status(settings.MARKETING_NEW_STATUS)
    if settings.MARKETING_WITHOUT_CONSENT == "skip":
        return None
    return Status.TRANSACTIONAL


def _agent_name(agent: Agent | None) -> str:
    return agent.display_name if agent is not None else ""


SMS_TAGS = {True: "sms:consented", False: "sms:opted-out"}


def wanted_tags(lead: Lead | None) -> list[str]:
    if lead is None:
        return []
    tags = [f"source:{lead.source}", f"type:{lead.lead_type}", f"stage:{lead.status}"]
    if lead.assigned_agent is not None:
        tags.append(f"agent:{_agent_name(lead.assigned_agent)}")
    return sorted(tags)


def member_update_for(contact: Contact, state: SyncState, facts: Facts) -> MemberUpdate | None:
    """The update that brings the platform in step with ``contact``; None when it has no
    email or must stay out of the audience."""
    email = normalize_email(contact.email)
    new_status = status_if_new(contact, facts.consent)
    if not email or new_status is None:
        return None
    lead = facts.lead
    fields = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone,
        "source": lead.source if lead else "",
        "lead_type": lead.lead_type if lead else "",
        "stage": lead.status if lead else "",
        "agent": _agent_name(lead.assigned_agent) if lead else "",
        "zip": lead.property_zip if lead else "",
    }
    wanted = wanted_tags(lead)
    if facts.sms is not None:
        # The SMS channel's consent, so the platform's texting (Mailchimp SMS) honours it.
        wanted = sorted([*wanted, SMS_TAGS[facts.sms.granted]])
    tags = {name: True for name in wanted} | {
        name: False for name in state.pushed_tags if name not in wanted
    }
    return MemberUpdate(
        key=f"contact-{contact.pk}",
        email=email,
        known_as=state.email if state.email and state.email != email else "",
        status_if_new=new_status,
        status=Status(state.send_status) if state.send_status else None,
        fields=fields,
        tags=tags,
    )


def update_hash(update: MemberUpdate) -> str:
    """A digest of what a push sends: an unchanged contact is not sent again."""
    facts = [update.email, update.status_if_new, update.status, update.fields, update.tags]
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def retry_wait(attempt: int) -> dt.timedelta:
    """The wait before pushing again after failed attempt ``attempt``."""
    seconds = backoff(
        attempt,
        base=settings.MARKETING_RETRY_BASE_SECONDS,
        cap=settings.MARKETING_RETRY_MAX_SECONDS,
        jitter=0.1,
    )
    return dt.timedelta(seconds=seconds)


# --- Pushing one contact -------------------------------------------------------------------


def marketing_push(*, contact_id: int) -> str:
    """Push one contact if it is due; safe to call any number of times. Returns what happened.

    Waits out the short debounce delay, then claims the row (a conditional UPDATE on its
    ``version``): of two tasks rung for one contact one pushes, the other finds it taken.
    """
    backend = active_backend()
    if backend is None:
        return "off"
    state = SyncState.objects.filter(contact_id=contact_id).first()
    if state is None or state.due_at is None:
        return "nothing to push"
    wait = (state.due_at - timezone.now()).total_seconds()
    if wait > settings.MARKETING_PUSH_DELAY_SECONDS + 1:
        return "not due"  # a retry's backoff: the sweeper rings when it is due
    if wait > 0:
        time.sleep(wait)
    now = timezone.now()
    claimed = SyncState.objects.filter(pk=state.pk, version=state.version, due_at__lte=now).update(
        due_at=now + LEASE
    )
    if not claimed:
        return "taken"
    contact = Contact.objects.get(pk=contact_id)
    update = member_update_for(contact, state, facts_for([contact_id])[contact_id])
    if update is None:
        _settle(state, due_at=None, last_error="")
        return "skipped"
    digest = update_hash(update)
    if state.error_permanent and update.email == state.email and update.status is None:
        # Refused for good at this address: another try would only be refused again (and
        # say so on the timeline again). A new address, a person's consent change or an
        # operator's retry tries again.
        _settle(state, due_at=None)
        return "refused before"
    if digest == state.pushed_hash and not state.error_permanent:
        _settle(state, due_at=None)
        return "unchanged"
    try:
        remote_status = backend.upsert(update)
    except MarketingError as exc:
        _record_failure(state, contact, exc, digest, update.email)
        return exc.kind.value
    _record_success(state, contact, update, digest, remote_status)
    return "pushed"


def _settle(state: SyncState, *, due_at: dt.datetime | None, **fields: Any) -> None:
    """Write the outcome; ``due_at`` only if no change arrived since the claim (else the
    change is pushed now)."""
    if fields:
        SyncState.objects.filter(pk=state.pk).update(**fields)
    if not SyncState.objects.filter(pk=state.pk, version=state.version).update(due_at=due_at):
        _push_again(state)


def _push_again(state: SyncState) -> None:
    """A change arrived while this push held the row: end the lease and ring for it."""
    now = timezone.now()
    SyncState.objects.filter(pk=state.pk, due_at__gt=now).update(due_at=now)
    enqueue_on_commit(PUSH_TASK, state.contact_id, task_name=f"marketing-{state.contact_id}-next")


def _record_success(
    state: SyncState, contact: Contact, update: MemberUpdate, digest: str, remote_status: str
) -> None:
    now = timezone.now()
    _settle(
        state,
        due_at=None,
        email=update.email,
        pushed_hash=digest,
        pushed_tags=sorted(name for name, on in update.tags.items() if on),
        pushed_at=now,
        attempts=0,
        last_error="",
        error_permanent=False,
        **({"remote_status": remote_status} if remote_status else {}),
    )
    if update.status is not None:
        SyncState.objects.filter(pk=state.pk, send_status=update.status.value).update(
            send_status=""
        )
    known = {s.value for s in Contact.MarketingStatus}
    if remote_status in known and remote_status != contact.marketing_status:
        # The platform told us the member's state (an address it knew before): keep it.
        Contact.objects.filter(pk=contact.pk).update(marketing_status=remote_status)


def _record_failure(
    state: SyncState, contact: Contact, exc: MarketingError, digest: str, email: str
) -> None:
    """Write a failure, only if no change arrived since the claim: the failure was about a
    version of the contact that is no longer the one to push (that one is pushed now)."""
    attempts = state.attempts + 1
    current = SyncState.objects.filter(pk=state.pk, version=state.version)
    if exc.kind is ErrorKind.PERMANENT:
        logger.warning("marketing push of contact %s refused for good: %s", contact.pk, exc)
        written = current.update(
            due_at=None,
            attempts=attempts,
            last_error=str(exc),
            error_permanent=True,
            pushed_hash=digest,
            email=email,
            send_status="",  # a person's request the platform refused is not sent again
        )
        if not written:
            _push_again(state)
            return
        Activity.objects.create(
            contact=contact,
            kind=Activity.Kind.CONTACT_UPDATED,
            summary=f"Mailchimp refused this contact: {exc}"[:500],
            data={"origin": ORIGIN, "error": str(exc)},
        )
        return
    label = "check the settings" if exc.kind is ErrorKind.CONFIGURATION else "will retry"
    logger.warning("marketing push of contact %s failed (%s): %s", contact.pk, label, exc)
    written = current.update(
        due_at=timezone.now() + retry_wait(attempts),
        attempts=attempts,
        last_error=f"{exc} ({label})",
    )
    if not written:
        _push_again(state)


def marketing_sweep(*, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Ring the queue for every contact due (a retry's time, or a lost task); returns how many."""
    if active_backend() is None:
        return 0
    now = now or timezone.now()
    ids = list(
        SyncState.objects.filter(due_at__lte=now)
        .order_by("due_at")
        .values_list("contact_id", flat=True)[:limit]
    )
    with transaction.atomic():
        for contact_id in ids:
            enqueue_on_commit(PUSH_TASK, contact_id, task_name=f"marketing-{contact_id}-sweep")
    return len(ids)


def marketing_retry(*, states: Iterable[SyncState]) -> int:
    """An operator's retry: forget the refusal and push these contacts again now."""
    ids = [s.contact_id for s in states]
    with transaction.atomic():
        SyncState.objects.filter(contact_id__in=ids).update(
            error_permanent=False, pushed_hash="", attempts=0, due_at=timezone.now(),
            version=F("version") + 1,
        )  # fmt: skip
        for contact_id in ids:
            enqueue_on_commit(PUSH_TASK, contact_id, task_name=f"marketing-{contact_id}-retry")
    return len(ids)


def marketing_consent_set(
    *, contact: Contact, subscribed: bool, actor: Any = None, text: str = ""
) -> SyncState | None:
    """A person in the CRM changed the contact's marketing-email consent.

    The only path that sends ``status`` for an existing member: the consent is recorded
    (its words, who gave it), and the next push subscribes or unsubscribes the member.
    """
    now = timezone.now()
    channel = Consent.Channel.MARKETING_EMAIL
    words = text or ("Subscribed to marketing email" if subscribed else "Unsubscribed")
    with transaction.atomic():
        Consent.objects.create(
            contact=contact, channel=channel, granted=subscribed, text=words,
            origin="crm: changed by a person", evidence={"user": getattr(actor, "pk", None)},
            obtained_at=now,
        )  # fmt: skip
        status = Status(settings.MARKETING_NEW_STATUS) if subscribed else Status.UNSUBSCRIBED
        Contact.objects.filter(pk=contact.pk).update(marketing_status=status.value)
        contact.marketing_status = status.value
        Activity.objects.create(
            contact=contact, kind=Activity.Kind.CONSENT, actor=actor if actor else None,
            summary=f"Marketing email: {words}"[:500], data={"origin": CRM, "status": status},
        )  # fmt: skip
        state, _ = SyncState.objects.get_or_create(contact=contact)
        SyncState.objects.filter(pk=state.pk).update(send_status=status.value)
        return marketing_mark(contact_id=contact.pk, fields=["marketing_status"], now=now)


# --- Taking the platform's changes in ------------------------------------------------------


def _contact_by_email(email: str) -> Contact | None:
    email = normalize_email(email)
    if not email:
        return None
    found = ContactEmail.objects.select_related("contact").filter(email=email).first()
    if found is not None:
        return found.contact
    state = SyncState.objects.select_related("contact").filter(email=email).first()
    return state.contact if state is not None else None


def _newer_than_crm(state: SyncState, name: str, at: dt.datetime) -> bool:
    """Whether a platform change made at ``at`` is newer than the CRM's last change of
    ``name`` (newest wins, field by field)."""
    change = state.field_changes.get(name) or {}
    if change.get("origin") != CRM:
        return True
    try:
        return at >= dt.datetime.fromisoformat(change["at"])
    except (KeyError, ValueError):
        return True


STATUS_OF_KIND = {
    "subscribe": Contact.MarketingStatus.SUBSCRIBED,
    "unsubscribe": Contact.MarketingStatus.UNSUBSCRIBED,
    "cleaned": Contact.MarketingStatus.CLEANED,
}


def marketing_apply(*, event: MarketingEvent) -> bool:
    """Apply one change made on the platform to the contact; returns whether anything changed.

    Idempotent: the same event twice changes nothing the second time. An address we do not
    know is ignored (the audience may hold people who are not the CRM's).
    """
    contact = _contact_by_email(event.email)
    if contact is None:
        return False
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        state, _ = SyncState.objects.get_or_create(contact=contact)
        changed: dict[str, tuple[str, str]] = {}
        status = STATUS_OF_KIND.get(event.kind)
        if status == Contact.MarketingStatus.SUBSCRIBED and not _newer_than_crm(
            state, "marketing_status", event.occurred_at
        ):
            status = None  # a person in the CRM changed the consent since: theirs is newer
        if status is not None and contact.marketing_status != status:
            changed["marketing_status"] = (contact.marketing_status, status)
            contact.marketing_status = status
        for name, value in event.fields.items():
            if name not in REMOTE_FIELDS:
                continue
            value = normalize_phone(value) if name == "phone" else value.strip()[:100]
            if (
                value
                and value != getattr(contact, name)
                and _newer_than_crm(state, name, event.occurred_at)
            ):
                changed[name] = (getattr(contact, name), value)
                setattr(contact, name, value)
        new_email = normalize_email(event.new_email)
        holder = ContactEmail.objects.filter(email=new_email).values_list("contact_id", flat=True)
        held_by = holder.first() if new_email else None
        if event.kind == "upemail" and held_by not in (None, contact.pk):
            # The new address is another person's in the CRM: keep both as they are.
            logger.warning("upemail to an address contact %s holds; not applied", held_by)
        elif event.kind == "upemail" and new_email and new_email != contact.email:
            changed["email"] = (contact.email, new_email)
            contact.email = new_email
            if held_by is None:
                ContactEmail.objects.create(contact=contact, email=new_email)
        remote: dict[str, Any] = {"remote_changed_at": event.occurred_at}
        if status is not None:
            remote["remote_status"] = status
        if new_email:
            remote["email"] = new_email
        elif not state.email:
            remote["email"] = normalize_email(event.email)
        if not changed:
            SyncState.objects.filter(pk=state.pk).update(**remote)
            return False
        _record_remote_change(contact, state, event, changed, remote)
    return True


def _record_remote_change(
    contact: Contact,
    state: SyncState,
    event: MarketingEvent,
    changed: dict[str, tuple[str, str]],
    remote: dict[str, Any],
) -> None:
    """Save the contact, remember the fields came from the platform, write the timeline."""
    contact.save(update_fields=[*changed, "updated_at"])
    at = event.occurred_at.isoformat()
    field_changes = dict(state.field_changes)
    field_changes.update({name: {"origin": ORIGIN, "at": at} for name in changed})
    SyncState.objects.filter(pk=state.pk).update(field_changes=field_changes, **remote)
    if "marketing_status" in changed:
        Consent.objects.create(
            contact=contact,
            channel=Consent.Channel.MARKETING_EMAIL,
            granted=contact.marketing_status == Contact.MarketingStatus.SUBSCRIBED,
            text=f"{event.kind} in Mailchimp" + (f" ({event.reason})" if event.reason else ""),
            origin=f"{ORIGIN}: {event.kind}",
            evidence={"reason": event.reason, "deleted": event.deleted},
            obtained_at=event.occurred_at,
        )
    Activity.objects.create(
        contact=contact,
        kind=Activity.Kind.CONTACT_UPDATED,
        summary=_summary(event, changed)[:500],
        data={
            "origin": ORIGIN,
            "event": event.kind,
            "reason": event.reason,
            "changes": {name: {"from": old, "to": new} for name, (old, new) in changed.items()},
        },
    )
    names = list(changed)
    signals.contact_changed.announce(sender=Contact, contact=contact, fields=names, origin=ORIGIN)


def _summary(event: MarketingEvent, changed: dict[str, tuple[str, str]]) -> str:
    reason = f" ({event.reason})" if event.reason else ""
    if event.kind == "unsubscribe":
        verb = "Deleted from" if event.deleted else "Unsubscribed from"
        return f"{verb} marketing email in Mailchimp{reason}"
    if event.kind == "cleaned":
        return f"Mailchimp stopped sending: the address bounced or complained{reason}"
    if event.kind == "subscribe" and "marketing_status" in changed:
        return "Subscribed to marketing email in Mailchimp"
    if event.kind == "upemail":
        return f"Email changed in Mailchimp to {changed.get('email', ('', event.new_email))[1]}"
    return "Updated in Mailchimp: " + ", ".join(n.replace("_", " ") for n in changed)


def events_from_member(member: Member, now: dt.datetime) -> list[MarketingEvent]:
    """A member read from the platform, as the events that would have brought it about."""
    at = member.changed_at or now
    events = [
        MarketingEvent(kind="profile", email=member.email, occurred_at=at, fields=member.fields)
    ]
    kind = {"subscribed": "subscribe", "unsubscribed": "unsubscribe", "cleaned": "cleaned"}.get(
        member.status
    )
    if kind:
        events.insert(0, MarketingEvent(kind=kind, email=member.email, occurred_at=at))
    return events


# --- Reconciliation and the full sync -------------------------------------------------------


def marketing_reconcile(*, now: dt.datetime | None = None) -> SyncRun | None:
    """Read the members changed on the platform since the last reconciliation, and apply them.

    Catches what webhooks missed (the site down, a webhook not set up). The window overlaps
    the previous one by a minute; applying a change twice changes nothing.
    """
    backend = active_backend()
    if backend is None:
        return None
    now = now or timezone.now()
    last = (
        SyncRun.objects.filter(kind=SyncRun.Kind.RECONCILE, status=SyncRun.Status.FINISHED)
        .order_by("-started_at")
        .first()
    )
    since = (last.started_at if last else now - dt.timedelta(days=1)) - dt.timedelta(minutes=1)
    run = SyncRun.objects.create(kind=SyncRun.Kind.RECONCILE, since=since)
    try:
        for member in backend.changes_since(since):
            run.total += 1
            changed = False
            for event in events_from_member(member, now):
                changed = marketing_apply(event=event) or changed
            run.done += 1
            run.changed += int(changed)
    except MarketingError as exc:
        run.status, run.error = SyncRun.Status.FAILED, str(exc)
    else:
        run.status = SyncRun.Status.FINISHED
    run.finished_at = timezone.now()
    run.save()
    return run


def marketing_full_sync_start(*, enqueue: bool = True) -> SyncRun | None:
    """Start a full sync of every contact with an email; None when the sync is off.

    With ``enqueue`` the work goes to the queue; without, the caller runs
    :func:`marketing_full_sync` itself (the management command).
    """
    if active_backend() is None:
        return None
    total = Contact.objects.exclude(email="").count()
    with transaction.atomic():
        run = SyncRun.objects.create(kind=SyncRun.Kind.FULL, total=total)
        if enqueue:
            enqueue_on_commit(FULL_SYNC_TASK, run.pk, task_name=f"marketing-full-{run.pk}")
    return run


def marketing_full_sync_submit(*, run: SyncRun, backend: MarketingBackend) -> SyncRun:
    """Hand every contact to the platform in batches of ``MARKETING_BATCH_SIZE``.

    Each contact's state is written as it is sent (address, tags, digest); ``pushed_at`` is
    set when its batch has finished, and a refused contact gets the error on its state.
    """
    size = max(1, settings.MARKETING_BATCH_SIZE)
    contacts = Contact.objects.exclude(email="").order_by("pk")
    last_pk = 0
    skipped = 0
    while True:
        chunk = list(contacts.filter(pk__gt=last_pk)[:size])
        if not chunk:
            break
        last_pk = chunk[-1].pk
        updates, skipped_here = _prepare_chunk(chunk)
        skipped += skipped_here
        if updates:
            batch_id = backend.bulk_upsert(updates)
            run.batches.append(
                {
                    "id": batch_id,
                    "contacts": [int(u.key.split("-")[1]) for u in updates],
                    "status": "pending",
                    "finished": 0,
                    "total": 0,
                }
            )
        run.done = skipped
        run.save(update_fields=["batches", "done"])
    if not run.batches:
        run.status, run.finished_at = SyncRun.Status.FINISHED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
    return run


def _prepare_chunk(chunk: list[Contact]) -> tuple[list[MemberUpdate], int]:
    """The updates for these contacts, their states written; and how many stay out.

    The states are written in one upsert (INSERT ... ON CONFLICT DO UPDATE): a bulk UPDATE
    of a thousand rows with different values each costs several times more.
    """
    ids = [c.pk for c in chunk]
    facts = facts_for(ids)
    states = {s.contact_id: s for s in SyncState.objects.filter(contact_id__in=ids)}
    updates: list[MemberUpdate] = []
    written: list[SyncState] = []
    for contact in chunk:
        state = states.get(contact.pk) or SyncState(contact_id=contact.pk)
        update = member_update_for(contact, state, facts[contact.pk])
        if update is None:
            continue
        updates.append(update)
        written.append(
            SyncState(
                contact_id=contact.pk,
                email=update.email,
                pushed_hash=update_hash(update),
                pushed_tags=sorted(name for name, on in update.tags.items() if on),
            )
        )
    SyncState.objects.bulk_create(
        written,
        update_conflicts=True,
        unique_fields=["contact"],
        update_fields=["email", "pushed_hash", "pushed_tags"],
    )
    return updates, len(chunk) - len(updates)


def marketing_full_sync_poll(*, run: SyncRun, backend: MarketingBackend) -> SyncRun:
    """Read the progress of the run's unfinished batches; settle those that have finished."""
    done = run.done - sum(
        round(len(b["contacts"]) * b["finished"] / b["total"]) if b["total"] else 0
        for b in run.batches
    )
    for batch in run.batches:
        if batch["status"] == "finished":
            continue
        progress = backend.bulk_progress(batch["id"])
        batch.update(status=progress.status, finished=progress.finished, total=progress.total)
        if progress.is_done:
            run.errored += _settle_batch(batch["contacts"], progress.outcomes)
    done += sum(
        round(len(b["contacts"]) * b["finished"] / b["total"]) if b["total"] else 0
        for b in run.batches
    )
    run.done = min(done, run.total)
    if all(b["status"] == "finished" for b in run.batches):
        run.status, run.finished_at, run.done = SyncRun.Status.FINISHED, timezone.now(), run.total
    run.save(update_fields=["batches", "done", "errored", "status", "finished_at"])
    return run


def _settle_batch(contact_ids: list[int], failures: Sequence[BatchOutcome]) -> int:
    """Mark the batch's contacts pushed, and record each refusal on its contact's state.

    A refusal that may pass (throttled) makes the contact due again for the one-by-one push.
    Returns how many contacts were refused.
    """
    now = timezone.now()
    errors: dict[int, BatchOutcome] = {}
    for outcome in failures:
        key = outcome.key.split(":")[0]
        if key.startswith("contact-"):
            errors.setdefault(int(key.removeprefix("contact-")), outcome)
    ok = [cid for cid in contact_ids if cid not in errors]
    SyncState.objects.filter(contact_id__in=ok).update(
        pushed_at=now, last_error="", error_permanent=False, attempts=0
    )
    for contact_id, outcome in errors.items():
        permanent = outcome.kind is not ErrorKind.RETRY
        SyncState.objects.filter(contact_id=contact_id).update(
            last_error=outcome.error,
            error_permanent=permanent and outcome.kind is ErrorKind.PERMANENT,
            pushed_hash="",
            due_at=None if permanent else now,
        )
    return len(errors)


def marketing_full_sync(*, run_id: int, wait_seconds: float = 50.0, poll: float = 1.0) -> SyncRun:
    """Submit the run's batches (once) and follow them for up to ``wait_seconds``; a run
    still going is followed by the scheduled ``marketing_runs_poll``."""
    backend = active_backend()
    run = SyncRun.objects.get(pk=run_id)
    if backend is None or run.status != SyncRun.Status.RUNNING:
        return run
    claimed = SyncRun.objects.filter(pk=run_id, submitted_at__isnull=True).update(
        submitted_at=timezone.now()
    )
    if claimed:
        try:
            marketing_full_sync_submit(run=run, backend=backend)
        except MarketingError as exc:
            run.status, run.error, run.finished_at = SyncRun.Status.FAILED, str(exc), timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
    else:
        run.refresh_from_db()
    deadline = time.monotonic() + wait_seconds
    while run.status == SyncRun.Status.RUNNING and run.batches:
        try:
            marketing_full_sync_poll(run=run, backend=backend)
        except MarketingError as exc:
            logger.warning("could not read the progress of sync run %s: %s", run.pk, exc)
        if run.status != SyncRun.Status.RUNNING or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    return run


def marketing_runs_poll(*, now: dt.datetime | None = None) -> int:
    """Follow every full sync still running (the scheduled task); returns how many.

    A run whose batches were never handed over a minute after it started (its task lost
    with a broker restart) is rung for again: the task claims the run, so twice sends once.
    """
    backend = active_backend()
    if backend is None:
        return 0
    now = now or timezone.now()
    running = SyncRun.objects.filter(kind=SyncRun.Kind.FULL, status=SyncRun.Status.RUNNING)
    lost = list(
        running.filter(
            submitted_at__isnull=True, started_at__lt=now - dt.timedelta(minutes=1)
        ).values_list("pk", flat=True)
    )
    with transaction.atomic():
        for run_id in lost:
            enqueue_on_commit(FULL_SYNC_TASK, run_id, task_name=f"marketing-full-{run_id}-again")
    runs = list(running.filter(submitted_at__isnull=False))
    for run in runs:
        try:
            marketing_full_sync_poll(run=run, backend=backend)
        except MarketingError as exc:
            logger.warning("could not read the progress of sync run %s: %s", run.pk, exc)
    return len(runs) + len(lost)
