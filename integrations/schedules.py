"""The periodic tasks, created or corrected after every ``migrate``."""

from __future__ import annotations

from typing import Any

SCHEDULES: dict[str, dict[str, Any]] = {
    "sweep inbound events": {
        "func": "integrations.tasks.sweep_events",
        "schedule_type": "I",
        "minutes": 1,
    },
    # Leads a missed Facebook webhook did not bring (docs/sources.md).
    "backfill facebook lead ads": {
        "func": "integrations.tasks.backfill_facebook",
        "schedule_type": "I",
        "minutes": 30,
    },
    "escalate overdue leads": {
        "func": "leads.tasks.escalate_overdue",
        "schedule_type": "I",
        "minutes": 1,
    },
}


def ensure_schedules(**kwargs: Any) -> None:
    """Create each schedule in ``SCHEDULES`` once, keyed by its name."""
    from django_q.models import Schedule

    for name, spec in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults={**spec, "repeats": -1})
