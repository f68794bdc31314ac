"""Queue entry points of the marketing sync: each looks its row up by id and calls a service."""

from __future__ import annotations

from . import services


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
