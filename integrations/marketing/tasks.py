"""Queue entry points of the marketing sync (each looks its row up by id and calls a service),
and their schedule."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from . import services

SCHEDULES: dict[str, dict[str, Any]] = {
    # Pushes due or to retry, full syncs in progress, and the members changed on the platform
    # that a webhook may have missed (docs/marketing.md).
    "push due marketing contacts": {
        "func": "integrations.marketing.tasks.sweep",
        "schedule_type": "I",
        "minutes": 1,
    },
    "follow marketing full syncs": {
        "func": "integrations.marketing.tasks.follow_runs",
        "schedule_type": "I",
        "minutes": 1,
    },
    "reconcile marketing audience": {
        "func": "integrations.marketing.tasks.reconcile",
        "schedule_type": "I",
        "minutes": settings.MARKETING_RECONCILE_MINUTES,
    },
}


def push(contact_id: int) -> str:
    return services.marketing_push(contact_id=contact_id)


def sweep() -> int:
    return services.marketing_sweep()


def full_sync(run_id: int) -> str:
    return services.marketing_full_sync(run_id=run_id).status


def follow_runs() -> int:
    return services.marketing_runs_poll()


def reconcile() -> str:
    run = services.marketing_reconcile()
    return run.status if run else "off"
