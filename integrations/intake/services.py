"""Writes at the edge: storing inbound events raw, processing them, sweeping and replaying."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from leads.models import Agent
from leads.services import CaptureConflict, lead_capture

from .models import InboundEvent
from .sources import get_source
from .sources.errors import Ignored, ParseError, RetryLater

logger = logging.getLogger(__name__)

# Queued before the workers claimed events from their rows; still run by the queue.
PROCESS_TASK = "integrations.intake.tasks.process_event"
# The sweep processes stale events for at most this long (its task must end well within the
# queue's 60 s timeout); what is left waits for the next sweep.
EVENT_SWEEP_SECONDS = 30.0


@dataclass(frozen=True)
class StoreResult:
    event: InboundEvent
    created: bool


def event_store(
    *,
    source: str,
    body: bytes,
    content_type: str = "",
    headers: Mapping[str, str] | None = None,
    remote_addr: str | None = None,
    external_id: str = "",
    meta: Mapping[str, Any] | None = None,
    status: str = InboundEvent.Status.RECEIVED,
    error: str = "",
) -> StoreResult:
    """Write a request raw: the row is its place in the queue.

    A ``received`` event is due at once: a queue worker's claimer takes it from the table
    (:func:`events_claim`), woken on PostgreSQL by the NOTIFY a trigger sends when the row is
    committed; no queue row, no broker push. Idempotent on ``(source, external_id)`` when
    ``external_id`` is given: a second delivery returns the first event with
    ``created=False``. An event stored as ``failed`` (an authentic body that cannot be read)
    is kept for an operator and not processed.
    """
    fields: dict[str, Any] = {
        "source": source,
        "external_id": external_id,
        "body": body,
        "content_type": content_type[:200],
        "headers": dict(headers or {}),
        "remote_addr": remote_addr,
        "meta": dict(meta or {}),
        "status": status,
        "error": error,
    }
    # No look-up first: the unique constraint answers a duplicate, and a new delivery (the
    # common case) costs one INSERT. At a door (no transaction open) it commits by itself, one
    # round trip; inside a caller's transaction it takes a savepoint, so that a duplicate
    # leaves that transaction usable.
    try:
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():
                event = InboundEvent.objects.create(**fields)
        else:
            event = InboundEvent.objects.create(**fields)
    except IntegrityError:
        # The same delivery arrived twice at once and the other request stored it first.
        existing = InboundEvent.objects.filter(source=source, external_id=external_id).first()
        if existing is None:
            raise
        return StoreResult(existing, created=False)
    return StoreResult(event, created=True)


def event_process(*, event_id: int) -> InboundEvent | None:
    """Parse the event and capture its leads; safe to call any number of times.

    The event row is locked while it is processed, so two workers handed the same event
    (a sweep racing a slow claimer) take turns, and the second finds it done. A ``ParseError``
    marks the event failed with the reason, an ``Ignored`` ignored with it, a ``RetryLater``
    leaves it due at ``next_attempt_at``, a ``CaptureConflict`` (the same inquiry captured by
    another worker at that moment) due again at once; any other error is recorded and
    counted, and the
    event is held back (``claimed_until``) for ``EVENT_SWEEP_AFTER_SECONDS`` before it is due
    again, until ``EVENT_MAX_ATTEMPTS`` marks it failed. Whatever the outcome, the lease of
    the claim that brought it here ends.

    One transaction when it goes well (no savepoint around the attempt: a lead costs fewer
    round trips); when it fails, that transaction is rolled back whole and the failure is
    recorded on the event in a second one.
    """
    try:
        with transaction.atomic():
            event = _attempt_begin(event_id)
            if event is None:
                return InboundEvent.objects.filter(pk=event_id).first()
            source = get_source(event.source)
            acted = source.apply(event)
            leads = (
                [lead_capture(data=data).lead for data in source.parse(event)]
                if acted is None
                else []
            )
            done = leads or acted
            event.status = InboundEvent.Status.PROCESSED if done else InboundEvent.Status.IGNORED
            event.error = ""
            event.lead = leads[0] if leads else None
            event.processed_at = timezone.now()
            event.next_attempt_at = event.claimed_until = None
            _attempt_save(event)
            return event
    except Exception as exc:
        failure = exc
    with transaction.atomic():
        event = _attempt_begin(event_id)
        if event is None:  # done meanwhile by another worker, or gone
            return InboundEvent.objects.filter(pk=event_id).first()
        event.claimed_until = None
        if isinstance(failure, ParseError):
            event.status = InboundEvent.Status.FAILED
            event.error = str(failure)
        elif isinstance(failure, Ignored):
            event.status = InboundEvent.Status.IGNORED
            event.error = str(failure)
            event.processed_at = timezone.now()
            event.next_attempt_at = None
        elif isinstance(failure, RetryLater):
            event.error = str(failure)
            attempted_at = event.last_attempt_at or timezone.now()  # set by _attempt_begin
            event.next_attempt_at = attempted_at + dt.timedelta(seconds=failure.delay)
            if failure.after is not None:
                failure.after()
        elif isinstance(failure, CaptureConflict):
            # Another worker captured the same inquiry at this moment: due again at once (an
            # attempt counted, no wait), and the next attempt finds its lead.
            event.error = str(failure)
        else:
            logger.error(
                "processing %s failed (attempt %d)", event, event.attempts, exc_info=failure
            )
            event.error = f"{type(failure).__name__}: {failure}"
            if event.attempts >= settings.EVENT_MAX_ATTEMPTS:
                event.status = InboundEvent.Status.FAILED
            else:  # not again at once: the cause (a database, a bug) needs a moment or a fix
                attempted_at = event.last_attempt_at or timezone.now()
                wait = dt.timedelta(seconds=settings.EVENT_SWEEP_AFTER_SECONDS)
                event.claimed_until = attempted_at + wait
        _attempt_save(event)
    return event


def _attempt_begin(event_id: int) -> InboundEvent | None:
    """Lock the event and count an attempt at it; None when it is not waiting (any more)."""
    event = InboundEvent.objects.select_for_update().filter(pk=event_id).first()
    if event is None or event.status != InboundEvent.Status.RECEIVED:
        return None
    event.attempts += 1
    event.last_attempt_at = timezone.now()
    return event


def _attempt_save(event: InboundEvent) -> None:
    event.save(
        update_fields=[
            "attempts", "last_attempt_at", "next_attempt_at", "claimed_until", "status",
            "error", "lead", "processed_at",
        ]
    )  # fmt: skip


def events_claim(
    *,
    limit: int,
    now: dt.datetime | None = None,
    stale_before: dt.datetime | None = None,
) -> list[int]:
    """Claim up to ``limit`` due events, the oldest first, and return their ids.

    Due: ``received``, not waiting for ``next_attempt_at``, not held (``claimed_until``).
    Each claimed event is held for ``EVENT_CLAIM_LEASE_SECONDS``: no other claimer takes it
    meanwhile, and when its claimer dies with it, it is due again as the lease runs out.
    ``stale_before`` (the sweeper's): only events that arrived, or were last tried, before
    then.

    One statement (an UPDATE … RETURNING, committed at once outside a transaction). On
    PostgreSQL the rows another claimer is taking at that moment are skipped (``FOR UPDATE
    SKIP LOCKED``) and a row another claimer has just taken no longer qualifies, so two
    claimers never get the same event; SQLite runs one writer at a time.
    """
    now = now or timezone.now()
    until = now + dt.timedelta(seconds=settings.EVENT_CLAIM_LEASE_SECONDS)
    adapt = connection.ops.adapt_datetimefield_value
    table = connection.ops.quote_name(InboundEvent._meta.db_table)
    params: list[Any] = [adapt(until), InboundEvent.Status.RECEIVED, adapt(now), adapt(now)]
    stale = ""
    if stale_before is not None:
        stale = "AND COALESCE(last_attempt_at, received_at) < %s"
        params.append(adapt(stale_before))
    params.append(limit)
    # The partial index of received events (inboundevent_pending) serves the ORDER BY.
    skip_locked = (
        "FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    sql = f"""
        UPDATE {table} SET claimed_until = %s
        WHERE id IN (
            SELECT id FROM {table}
            WHERE status = %s
              AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
              AND (claimed_until IS NULL OR claimed_until <= %s)
              {stale}
            ORDER BY received_at
            LIMIT %s
            {skip_locked}
        )
        RETURNING id
    """  # noqa: S608 - the table's own name and fixed clauses; the values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def events_release(*, ids: Iterable[int]) -> int:
    """End the leases on events claimed but not processed (a claimer stopping mid-batch), so
    another claimer takes them now rather than when the lease runs out."""
    return InboundEvent.objects.filter(
        pk__in=list(ids), status=InboundEvent.Status.RECEIVED
    ).update(claimed_until=None)


def events_process_due(*, limit: int, now: dt.datetime | None = None) -> int:
    """Claim up to ``limit`` due events and process each (as a claimer does); return how many
    were claimed."""
    ids = events_claim(limit=limit, now=now)
    for event_id in ids:
        event_process(event_id=event_id)
    return len(ids)


def events_sweep(*, now: dt.datetime | None = None) -> int:
    """Process every event still ``received`` past its deadline; return how many.

    The deadline runs ``EVENT_SWEEP_AFTER_SECONDS`` from the last attempt (or from arrival
    when there was none), and an event held by a claimer's lease is left to it: what the
    sweep finds is what no claimer took (every claimer stopped, or one that died with it and
    whose lease ran out), so events are processed within a sweep interval even with no
    claimer running. It claims them as a claimer does, so it never races one, and works for
    at most ``EVENT_SWEEP_SECONDS`` (the rest at the next sweep), handing back what it
    claimed and could not reach.
    """
    started = time.monotonic()
    now = now or timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.EVENT_SWEEP_AFTER_SECONDS)
    processed = 0
    while time.monotonic() - started < EVENT_SWEEP_SECONDS:
        ids = events_claim(limit=settings.EVENT_CLAIM_BATCH, now=now, stale_before=stale_before)
        if not ids:
            break
        for n, event_id in enumerate(ids):
            if time.monotonic() - started >= EVENT_SWEEP_SECONDS:
                events_release(ids=ids[n:])
                break
            event_process(event_id=event_id)
            processed += 1
    if processed:
        logger.warning("sweeper processed %d stale inbound event(s)", processed)
    return processed


def events_replay(*, events: Iterable[InboundEvent]) -> int:
    """Put failed, ignored or stuck events back to ``received``, due at once.

    The claimers take them (on PostgreSQL woken by the NOTIFY of the rows' update).
    Processed events are left alone: a replay never makes a second lead, and capture is
    idempotent anyway. Returns how many were replayed.
    """
    ids = [e.pk for e in events if e.status != InboundEvent.Status.PROCESSED]
    InboundEvent.objects.filter(pk__in=ids).exclude(status=InboundEvent.Status.PROCESSED).update(
        status=InboundEvent.Status.RECEIVED,
        error="",
        attempts=0,
        next_attempt_at=None,
        claimed_until=None,
    )
    return len(ids)


# --- Leads sent through the REST API --------------------------------------------------------


class IdempotencyConflict(Exception):
    """The request's Idempotency-Key was used before with a different body."""


def lead_request_create(
    *,
    request: HttpRequest,
    body: bytes,
    data: Any,
    agent: Agent,
    token_id: int | None,
    idempotency_key: str = "",
) -> StoreResult:
    """Store a lead sent through the API (already validated) as an ``api`` event, raw, to be
    processed on the queue like any source's.

    Idempotent per user on ``idempotency_key``: the same key with the same body returns the
    first event (``created=False``); with another body it raises ``IdempotencyConflict``.
    """
    return api_request_store(
        source="api",
        request=request,
        body=body,
        data=data,
        owner=f"user:{agent.user_id}",
        idempotency_key=idempotency_key,
        meta={
            "user_id": agent.user_id,
            "agent_id": agent.pk,
            "team_id": agent.team_id,
            "token_id": token_id,
        },
    )


def event_request_create(
    *,
    request: HttpRequest,
    body: bytes,
    data: Any,
    team_id: int,
    lead_source: str,
    integration_id: int | None = None,
    user_id: int | None = None,
    idempotency_key: str = "",
) -> StoreResult:
    """Store an event sent through the API (already validated) as an ``events`` event, raw.

    Sent by an integration (``integration_id``: its leads carry its ``lead_source``) or by a
    person's token (``user_id``, source ``api``). Idempotent per sender on
    ``idempotency_key`` (the header, or the event's own id) as :func:`lead_request_create`.
    """
    owner = f"integration:{integration_id}" if integration_id else f"user:{user_id}"
    return api_request_store(
        source="events",
        request=request,
        body=body,
        data=data,
        owner=owner,
        idempotency_key=idempotency_key,
        meta={
            "integration_id": integration_id,
            "user_id": user_id,
            "team_id": team_id,
            "lead_source": lead_source,
        },
    )


def api_request_store(
    *,
    source: str,
    request: HttpRequest,
    body: bytes,
    data: Any,
    owner: str,
    meta: dict[str, Any],
    idempotency_key: str = "",
) -> StoreResult:
    """Store a request to the API as an event of ``source``, raw, with ``meta``; idempotent
    per ``owner`` (who sent it) on ``idempotency_key``: the same key and body give the first
    event (``created=False``), the same key with another body ``IdempotencyConflict``."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    stored = get_source(source).store(
        request,
        body=body,
        external_id=f"{owner}:{idempotency_key}" if idempotency_key else "",
        meta={**meta, "body_digest": digest, "received_at": timezone.now().isoformat()},
    )
    if not stored.created and stored.event.meta.get("body_digest") != digest:
        raise IdempotencyConflict("This Idempotency-Key was already used with a different body.")
    return stored
