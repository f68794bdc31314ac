"""Queue entry points of the domain (each calls a service), and their schedule."""

from __future__ import annotations

from typing import Any

from . import services
from .ratelimit import counters_forget

SCHEDULES: dict[str, dict[str, Any]] = {
    "escalate overdue leads": {
        "func": "leads.tasks.escalate_overdue",
        "schedule_type": "I",
        "minutes": 1,
    },
    # Follow-ups that fell due: their reminders (signals.task_due; the alerts app sends them).
    "remind due follow-ups": {
        "func": "leads.tasks.remind_due_follow_ups",
        "schedule_type": "I",
        "minutes": 1,
    },
    # The API's rate-limit counters of windows that have ended (without Redis).
    "forget old rate-limit counters": {
        "func": "leads.tasks.forget_rate_counters",
        "schedule_type": "H",
    },
}


def schedules_ensure(**kwargs: Any) -> None:
    """Create or correct the domain's schedules, by name (after every ``migrate``)."""
    from django_q.models import Schedule

    for name, spec in SCHEDULES.items():
        Schedule.objects.update_or_create(name=name, defaults={**spec, "repeats": -1})


def escalate_overdue() -> int:
    """Move on every lead whose acceptance deadline has passed (scheduled every minute)."""
    return services.leads_escalate()


def remind_due_follow_ups() -> int:
    """Announce the follow-ups that fell due (scheduled every minute)."""
    return services.tasks_remind()


def forget_rate_counters() -> int:
    """Delete the API's rate-limit counters of windows that have ended (hourly)."""
    return counters_forget()
