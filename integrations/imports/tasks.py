"""Queue entry points of imports, and their schedule."""

from __future__ import annotations

from typing import Any

from . import services

SCHEDULES: dict[str, dict[str, Any]] = {
    # Imports whose worker stopped writing (killed, restarted, its task lost).
    "resume stalled imports": {
        "func": "integrations.imports.tasks.sweep",
        "schedule_type": "I",
        "minutes": 1,
    },
}


def work(job_id: int) -> str:
    return services.job_work(job_id=job_id)


def sweep() -> int:
    return services.jobs_sweep()
