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
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django_q.brokers import get_broker

from integrations.lib.queue import enqueue_on_commit, waiting_args
from leads.models import Agent
from leads.services import lead_capture

from .models import InboundEvent
from .sources import get_source
from .sources.errors import Ignored, ParseError, RetryLater

logger = logging.getLogger(__name__)

PROCESS_TASK = "integrations.intake.tasks.process_event"
# The sweep rings for stale events in pages of this many, for at most this long (the sweep's
# task must end well within the queue's 60 s timeout); what is left waits for the next one.
EVENT_SWEEP_BATCH = 1000
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
    """Write a request raw and enqueue its processing after commit.

    Idempotent on ``(source, external_id)`` when ``external_id`` is given: a second delivery
    returns the first event with ``created=False`` and enqueues nothing. An event stored as
    ``failed`` (an authentic body that cannot be read) is kept for an operator and not queued.
    """
    # No look-up first: the unique constraint answers a duplicate, and a new delivery (the
    # common case) costs one INSERT.
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                source=source,
                external_id=external_id,
                body=body,
                content_type=content_type[:200],
                headers=dict(headers or {}),
                remote_addr=remote_addr,
                meta=dict(meta or {}),
                status=status,
                error=error,
            )
            if status == InboundEvent.Status.RECEIVED:
                enqueue_on_commit(PROCESS_TASK, event.pk, task_name=f"event-{event.pk}")
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
    (a sweep racing a slow task) take turns, and the second finds it done. A ``ParseError``
    marks the event failed with the reason, an ``Ignored`` ignored with it; any other error
    is recorded, counted and left for the sweeper, until ``EVENT_MAX_ATTEMPTS`` marks it
    failed.

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
            event.next_attempt_at = None
            _attempt_save(event)
            return event
    except Exception as exc:
        failure = exc
    with transaction.atomic():
        event = _attempt_begin(event_id)
        if event is None:  # done meanwhile by another worker, or gone
            return InboundEvent.objects.filter(pk=event_id).first()
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
        else:
            logger.error(
                "processing %s failed (attempt %d)", event, event.attempts, exc_info=failure
            )
            event.error = f"{type(failure).__name__}: {failure}"
            if event.attempts >= settings.EVENT_MAX_ATTEMPTS:
                event.status = InboundEvent.Status.FAILED
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
            "attempts", "last_attempt_at", "next_attempt_at", "status", "error", "lead",
            "processed_at",
        ]
    )  # fmt: skip


def events_sweep(*, now: dt.datetime | None = None) -> int:
    """Re-enqueue every event still ``received`` past its deadline; return how many.

    The deadline runs from the last attempt (or from arrival when there was none), so an event
    whose task was lost, or whose worker was killed, is picked up within a sweep interval.
    Events whose task is still waiting in the queue (a backlog the workers have not reached)
    are left alone: ringing again would only queue them twice. The whole backlog is rung in
    one sweep, in batches of ``EVENT_SWEEP_BATCH``, for at most ``EVENT_SWEEP_SECONDS``
    (the rest at the next sweep), instead of a fixed number a minute.
    """
    started = time.monotonic()
    now = now or timezone.now()
    deadline = now - dt.timedelta(seconds=settings.EVENT_SWEEP_AFTER_SECONDS)
    stale = (
        InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED)
        .filter(
            Q(last_attempt_at__isnull=True, received_at__lt=deadline)
            | Q(last_attempt_at__lt=deadline)
        )
        .exclude(next_attempt_at__gt=now)
        .order_by("received_at")
    )
    broker = get_broker()
    waiting = waiting_args(PROCESS_TASK, broker)
    queued = {args[0] for args in waiting or () if args}
    rung = skipped = 0
    after = 0
    while time.monotonic() - started < EVENT_SWEEP_SECONDS:
        # Keyset pages by id: a page's events get a new deadline, so they leave ``stale``.
        batch = list(
            stale.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:EVENT_SWEEP_BATCH]
        )
        if not batch:
            break
        after = batch[-1]
        ids = [pk for pk in batch if pk not in queued]
        skipped += len(batch) - len(ids)
        with transaction.atomic():
            # Push the deadline on so the next sweep does not ring again for the same events
            # while their tasks wait in the queue.
            InboundEvent.objects.filter(pk__in=ids).update(last_attempt_at=now)
            for event_id in ids:
                enqueue_on_commit(
                    PROCESS_TASK, event_id, task_name=f"event-{event_id}-sweep", broker=broker
                )
        rung += len(ids)
    if rung or skipped:
        logger.warning(
            "sweeper re-enqueued %d stale inbound event(s); %d more were waiting in the queue",
            rung, skipped,
        )  # fmt: skip
    return rung


def events_replay(*, events: Iterable[InboundEvent]) -> int:
    """Put failed, ignored or stuck events back to ``received`` and enqueue them again.

    Processed events are left alone: a replay never makes a second lead, and capture is
    idempotent anyway. Returns how many were replayed.
    """
    ids = [e.pk for e in events if e.status != InboundEvent.Status.PROCESSED]
    with transaction.atomic():
        InboundEvent.objects.filter(pk__in=ids).update(
            status=InboundEvent.Status.RECEIVED, error="", attempts=0, next_attempt_at=None
        )
        for event_id in ids:
            enqueue_on_commit(PROCESS_TASK, event_id, task_name=f"event-{event_id}-replay")
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
