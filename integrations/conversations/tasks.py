"""Queue entry points of the conversations, and their schedule."""

from __future__ import annotations

from typing import Any

from . import services

SCHEDULES: dict[str, dict[str, Any]] = {
    # Retries, texts waiting for the person's daytime, sends a lost task left behind.
    "send due messages": {
        "func": "integrations.conversations.tasks.sweep",
        "schedule_type": "I",
        "minutes": 1,
    },
}


def send(message_id: int) -> str:
    message = services.message_deliver(message_id=message_id)
    return message.status if message else "not due"


def sweep() -> int:
    return services.messages_sweep()
