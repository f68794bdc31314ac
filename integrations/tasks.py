"""Queue entry points: each looks its object up by id and calls a service."""

from __future__ import annotations

from . import services


def process_event(event_id: int) -> str:
    event = services.event_process(event_id=event_id)
    return event.status if event else "missing"


def sweep_events() -> int:
    return services.events_sweep()


def backfill_facebook() -> dict[str, int]:
    from .sources.facebook import facebook_backfill_all

    return facebook_backfill_all()
