"""Queue entry points of the domain: each calls a service."""

from __future__ import annotations

from . import services


def escalate_overdue() -> int:
    """Move on every lead whose acceptance deadline has passed (scheduled every minute)."""
    return services.leads_escalate()
