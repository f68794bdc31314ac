"""Reads of the agent alerts, and what they add to the domain's screens (``leads.extensions``)."""

from __future__ import annotations

import datetime as dt

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
