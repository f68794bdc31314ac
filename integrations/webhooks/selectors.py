"""Reads of the outbound webhooks: who wants an event, answered cheaply when nobody does."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from .models import WebhookDelivery, WebhookSubscription

# This process's memory of "no active subscription": (answer, until when, on the monotonic
# clock). A deployment without webhooks pays no query per change; a subscription made
# elsewhere is seen within WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS, before its ``events_from``.
_any_active: tuple[bool, float] | None = None


def subscriptions_forget(**kwargs: Any) -> None:
    """Forget what this process knew of the subscriptions (one was saved or deleted here)."""
    global _any_active
    _any_active = None


def subscriptions_exist() -> bool:
    """Whether any subscription is active (no query while this process knows there is none)."""
    global _any_active
    now = time.monotonic()
    if _any_active is not None and now < _any_active[1]:
        return _any_active[0]
    answer = WebhookSubscription.objects.filter(is_active=True).exists()
    _any_active = (answer, now + settings.WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS)
    return answer


def subscriptions_wanting(
    *, event_type: str, team_ids: Iterable[int | None]
) -> list[WebhookSubscription]:
    """The active subscriptions that receive ``event_type`` about these teams now.

    No query while this process knows there are none; ``team_ids`` (which may be a lazy
    query) is read only when there are some."""
    if not subscriptions_exist():
        return []
    teams = [t for t in team_ids if t is not None]
    now = timezone.now()
    return [
        s
        for s in WebhookSubscription.objects.filter(is_active=True)
        .filter(Q(events_from__isnull=True) | Q(events_from__lte=now))
        .filter(Q(team__isnull=True) | Q(team_id__in=teams))
        if s.wants(event_type)
    ]


def oldest_due_delivery_at(*, now: dt.datetime | None = None) -> dt.datetime | None:
    """Since when the longest-waiting delivery of an active subscription has been due (a
    first attempt or a retry); None when none is due."""
    return (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now or timezone.now(),
            subscription__is_active=True,
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def deliveries_by_status() -> dict[str, int]:
    """How many webhook deliveries there are in each status."""
    rows = WebhookDelivery.objects.order_by().values_list("status").annotate(n=Count("id"))
    return dict(rows)
