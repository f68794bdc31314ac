"""Reads at the edge: what the admin shows operations about the lead sources, and the web
forms the door answers for."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from .models import InboundEvent, WebForm
from .sources import SOURCES, get_source


@dataclass(frozen=True)
class SourceHealth:
    key: str
    label: str
    last_event_at: dt.datetime | None
    events_today: int
    failed: int
    stuck: int

    @property
    def failures(self) -> int:
        return self.failed + self.stuck


def source_health(*, now: dt.datetime | None = None) -> list[SourceHealth]:
    """One row per registered source (then any other source that has events): its last
    event, its events since local midnight, its failed events and those still ``received``
    past ``EVENT_SWEEP_AFTER_SECONDS``. One query for every source together."""
    now = now or timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    stuck_before = now - dt.timedelta(seconds=settings.EVENT_SWEEP_AFTER_SECONDS)
    Status = InboundEvent.Status
    counts = {
        row["source"]: row
        for row in InboundEvent.objects.order_by()
        .values("source")
        .annotate(
            last_event_at=Max("received_at"),
            events_today=Count("pk", filter=Q(received_at__gte=midnight)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            stuck=Count("pk", filter=Q(status=Status.RECEIVED, received_at__lt=stuck_before)),
        )
    }
    keys = list(SOURCES) + sorted(set(counts) - set(SOURCES))
    return [
        SourceHealth(
            key=key,
            label=get_source(key).label if key in SOURCES else key,
            last_event_at=counts.get(key, {}).get("last_event_at"),
            events_today=counts.get(key, {}).get("events_today", 0),
            failed=counts.get(key, {}).get("failed", 0),
            stuck=counts.get(key, {}).get("stuck", 0),
        )
        for key in keys
    ]


# --- For operations: /healthz and /metrics (crm/health.py) ----------------------------------


def oldest_pending_event_at(*, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the oldest event still waiting to be processed arrived (one a source asked us to
    retry later, and whose time has not come, is not waiting); None when there is none."""
    now = now or timezone.now()
    waiting = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).exclude(
        next_attempt_at__gt=now
    )
    return waiting.order_by("received_at").values_list("received_at", flat=True).first()


def events_by_source_and_status(
    statuses: tuple[str, ...] = (InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED),
) -> dict[tuple[str, str], int]:
    """How many events of each source are in each of ``statuses`` (waiting, failed)."""
    rows = (
        InboundEvent.objects.filter(status__in=statuses)
        .order_by()
        .values_list("source", "status")
        .annotate(n=Count("id"))
    )
    return {(source, status): n for source, status, n in rows}


@dataclass(frozen=True)
class UnknownRecipient:
    address: str
    emails: int
    last_at: dt.datetime


UNKNOWN_RECIPIENT = "Unknown recipient "


def email_unknown_recipients(
    *, now: dt.datetime | None = None, days: int = 30, limit: int = 20
) -> list[UnknownRecipient]:
    """The addresses lead emails came to in the last ``days`` that no team has (the events
    were stored and ignored), the most recent first."""
    since = (now or timezone.now()) - dt.timedelta(days=days)
    rows = (
        InboundEvent.objects.filter(
            source="email",
            status=InboundEvent.Status.IGNORED,
            error__startswith=UNKNOWN_RECIPIENT,
            received_at__gte=since,
        )
        .order_by()
        .values("error")
        .annotate(emails=Count("pk"), last_at=Max("received_at"))
        .order_by("-last_at")[:limit]
    )
    return [
        UnknownRecipient(
            address=row["error"][len(UNKNOWN_RECIPIENT) :].partition(":")[0],
            emails=row["emails"],
            last_at=row["last_at"],
        )
        for row in rows
    ]


# --- Web forms at the door --------------------------------------------------------------------

# This process's active web forms by public key, each with until when (monotonic clock) it
# may be answered from memory: the door looks its form up on every request, and that look-up
# was a fifth of a submission's CPU. A form saved or deleted in this process is forgotten at
# once; an edit made in another process is seen within WEBFORM_CACHE_SECONDS.
_web_forms: dict[str, tuple[WebForm, float]] = {}
_WEB_FORMS_KEPT = 1000  # public keys remembered at most (a flood of unknown keys is not kept)


def web_form_active(public_key: str) -> WebForm | None:
    """The active web form with ``public_key``, or None. Read-only: do not change it."""
    now = time.monotonic()
    known = _web_forms.get(public_key)
    if known is not None and now < known[1]:
        return known[0]
    web_form = WebForm.objects.filter(public_key=public_key, is_active=True).first()
    if web_form is None:
        _web_forms.pop(public_key, None)
        return None
    if settings.WEBFORM_CACHE_SECONDS > 0:
        if len(_web_forms) >= _WEB_FORMS_KEPT:
            _web_forms.clear()
        _web_forms[public_key] = (web_form, now + settings.WEBFORM_CACHE_SECONDS)
    return web_form


def web_forms_forget(**kwargs: Any) -> None:
    """Forget the web forms this process knew (one was saved or deleted here)."""
    _web_forms.clear()
