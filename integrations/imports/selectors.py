"""Reads of imports for the domain's screens."""

from __future__ import annotations

import datetime as dt

from leads.extensions import DashboardPanel

from .models import ImportJob


def imports_panel(team_id: int, since: dt.datetime) -> DashboardPanel:
    """The dashboard's card of the team's latest imports, with the way to start one."""
    rows = list(
        ImportJob.objects.filter(team_id=team_id).defer("content").order_by("-created_at")[:5]
    )
    return DashboardPanel(
        title="Imports",
        template="imports/_dashboard_panel.html",
        rows=rows or [None],
        empty="",
    )
