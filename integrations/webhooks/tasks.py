"""Queue entry points of the outbound webhooks, and their schedule."""

from __future__ import annotations

from typing import Any

from . import services

SCHEDULES: dict[str, dict[str, Any]] = {
    # Retries whose time has come, and deliveries whose task was lost.
    "deliver due webhooks": {
        "func": "integrations.webhooks.tasks.sweep",
        "schedule_type": "I",
        "minutes": 1,
    },
}


def deliver(delivery_id: int) -> str:
    delivery = services.webhook_deliver(delivery_id=delivery_id)
    return delivery.status if delivery else "not due"


def sweep() -> int:
    return services.webhooks_sweep()
