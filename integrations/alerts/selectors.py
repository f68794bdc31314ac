"""Reads of the agent alerts, and what they add to the domain's screens (``leads.extensions``)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count
from django.db.models.functions import Coalesce
from django.utils import timezone

from leads.extensions import DashboardPanel, TimelineEntry
from leads.models import Lead

from .models import AgentAlert

FAILED = (AgentAlert.Status.FAILED, AgentAlert.Status.UNDELIVERED)


def alert_timeline(lead: Lead, limit: int) -> list[TimelineEntry]:
    """The alerts sent about ``lead``, as entries of its timeline (one query)."""
    alerts = AgentAlert.objects.filter(lead=lead).select_related("agent").order_by("-created_at")
    alerts = alerts[:limit]
    return [
        TimelineEntry(
            at=alert.created_at,
            kind="alert",
            title=f"{alert.get_channel_display()} alert to {alert.agent}: "
            f"{alert.get_status_display()}",
            details=[f"Error: {alert.last_error}"] if alert.last_error else [],
            tone="failed" if alert.status in FAILED else "",
        )
        for alert in alerts
    ]


def failed_alerts_panel(team_id: int, since: dt.datetime) -> DashboardPanel:
    """The dashboard's card of the team's alerts that failed since ``since`` (one query)."""
    rows = list(
        AgentAlert.objects.filter(lead__team_id=team_id, created_at__gte=since, status__in=FAILED)
        .select_related("lead__contact", "agent")
        .order_by("-created_at")[:50]
    )
    return DashboardPanel(
        title="Alerts that failed", template="alerts/_failed_alerts_panel.html", rows=rows
    )


def oldest_due_alert_at(*, now: dt.datetime | None = None) -> dt.datetime | None:
    """Since when the longest-waiting alert has been due (queued, its time come: a first send
    from its creation, a retry from its next attempt); None when none is due."""
    now = now or timezone.now()
    due_at = Coalesce("next_attempt_at", "created_at")
    return (
        AgentAlert.objects.filter(status=AgentAlert.Status.QUEUED)
        .annotate(due_at=due_at)
        .filter(due_at__lte=now)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )


def alerts_by_channel_and_status() -> dict[tuple[str, str], int]:
    """How many alerts there are on each channel in each status."""
    rows = AgentAlert.objects.order_by().values_list("channel", "status").annotate(n=Count("id"))
    return {(channel, status): n for channel, status, n in rows}
