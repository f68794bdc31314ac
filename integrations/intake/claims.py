"""The queue workers' claimers of inbound events: each worker process takes due events
straight from ``InboundEvent`` (no queue row per event), woken on PostgreSQL by the NOTIFY
that migration 0003's triggers send when an event is stored or put back to be processed.

One claimer thread per django-q2 worker process, started on ``post_spawn``: the cluster that
``make run`` and a deployment already start brings them (no process of its own to run and
watch), a worker django-q2 recycles or restarts starts a new one, and the events are processed
in a process that ``in_worker()`` knows as a worker, so the first alerts are sent by it right
after the commit. The worker's own loop keeps serving the queue's other tasks beside it.
"""

from __future__ import annotations

import multiprocessing.util
from typing import Any

from django.conf import settings

from integrations.lib.claimer import Claimer

from . import services

# The channel migration 0003's triggers notify.
CHANNEL = "intake_inboundevent_due"


def events_claimer(*, name: str = "inbound event claimer") -> Claimer:
    """A claimer of due inbound events, as configured (``EVENT_CLAIM_*``); not started."""
    return Claimer(
        name=name,
        claim=lambda limit: services.events_claim(limit=limit),
        process=lambda event_id: services.event_process(event_id=event_id),
        release=lambda ids: services.events_release(ids=ids),
        batch=settings.EVENT_CLAIM_BATCH,
        poll=settings.EVENT_CLAIM_POLL_SECONDS,
        channel=CHANNEL,
    )


def claimer_start(**kwargs: Any) -> Claimer | None:
    """``post_spawn``: start this worker process's claimer (unless ``EVENT_CLAIMER`` is off).

    When the worker ends normally (stopped, or recycled by django-q2) the claimer finishes the
    event in hand and hands back the rest of its batch; a killed worker's batch is claimed
    again when its lease runs out.
    """
    if not settings.EVENT_CLAIMER:
        return None
    claimer = events_claimer(name=f"inbound event claimer ({kwargs.get('proc_name', 'worker')})")
    claimer.start()
    # Run as the worker process exits (multiprocessing runs these finalizers; atexit it does not).
    multiprocessing.util.Finalize(None, claimer.stop, exitpriority=10)
    return claimer
