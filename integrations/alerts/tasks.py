"""Queue entry points of the agent alerts, and their schedule."""

from __future__ import annotations

from typing import Any

from . import services

SCHEDULES: dict[str, dict[str, Any]] = {
    # Retries, SMS held for the end of quiet hours, sends a lost task left behind, alerts lost
    # before their rows were written, and reminders of deadlines coming up.
    "send due alerts": {
        "func": "integrations.alerts.tasks.sweep",
        "schedule_type": "I",
        "minutes": 1,
    },
}


def send(alert_id: int) -> str:
    alert = services.alert_send(alert_id=alert_id)
    return alert.status if alert else "not due"


def sweep() -> int:
    return services.alerts_sweep()
