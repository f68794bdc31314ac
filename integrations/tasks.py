"""Queue entry points: each looks its object up by id and calls a service."""

from __future__ import annotations

from . import services


def process_event(event_id: int) -> str:
    from .alerts.services import sending_inline

    # The worker that routes a lead also sends its first alerts: speed to lead.
    with sending_inline():
        event = services.event_process(event_id=event_id)
    return event.status if event else "missing"


def sweep_events() -> int:
    return services.events_sweep()


def backfill_facebook() -> dict[str, int]:
    from .sources.facebook import facebook_backfill_all

    return facebook_backfill_all()


def send_alert(delivery_id: int) -> str:
    from .alerts.services import alert_send

    delivery = alert_send(delivery_id=delivery_id)
    return delivery.status if delivery else "not due"


def sweep_alerts() -> int:
    from .alerts.services import alerts_sweep

    return alerts_sweep()
