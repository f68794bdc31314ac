"""Queue entry points of intake (each looks its object up by id and calls a service), and
their schedule."""

from __future__ import annotations

from typing import Any

from . import services

SCHEDULES: dict[str, dict[str, Any]] = {
    # Events no worker's claimer took (all stopped, or one died holding them past its lease):
    # the row is the truth.
    "sweep inbound events": {
        "func": "integrations.intake.tasks.sweep_events",
        "schedule_type": "I",
        "minutes": 1,
    },
    # Lead emails waiting in the mailbox (EMAIL_INTAKE_IMAP_URL; nothing to do when unset);
    # `manage.py email_imap --idle` reads them as they arrive.
    "poll lead mailbox": {
        "func": "integrations.intake.tasks.poll_lead_mailbox",
        "schedule_type": "I",
        "minutes": 1,
    },
    # A vendor's lead emails suddenly failing to parse: ADMINS are mailed once.
    "lead email vendor alerts": {
        "func": "integrations.intake.tasks.email_vendor_alerts",
        "schedule_type": "I",
        "minutes": 5,
    },
    # Leads a missed Facebook webhook did not bring (docs/sources.md).
    "backfill facebook lead ads": {
        "func": "integrations.intake.tasks.backfill_facebook",
        "schedule_type": "I",
        "minutes": 30,
    },
}


def process_event(event_id: int) -> str:
    """Tasks queued for an event before the workers claimed events from their rows."""
    event = services.event_process(event_id=event_id)
    return event.status if event else "missing"


def sweep_events() -> int:
    return services.events_sweep()


def backfill_facebook() -> dict[str, int]:
    from .sources.facebook.backfill import facebook_backfill_all

    return facebook_backfill_all()


def poll_lead_mailbox() -> dict[str, int]:
    from django.conf import settings

    if not settings.EMAIL_INTAKE_IMAP_URL:
        return {}
    from .sources.email.imap import imap_poll

    return vars(imap_poll())


def email_vendor_alerts() -> list[str]:
    from .sources.email.health import email_vendor_alerts as alerts

    return alerts()
