"""Ringing the doorbell: putting work on the django-q2 queue once the rows are committed.

The queue carries only ids. If enqueueing fails (broker down, worker gone) the row is still
there and the sweeper rings again, so a failure here is logged and never raised to the sender.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models.signals import post_migrate
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.signals import post_spawn
from django_q.tasks import async_task

logger = logging.getLogger(__name__)


def uses_orm_broker() -> bool:
    return "orm" in settings.Q_CLUSTER


def enqueue(func: str, *args: Any, **kwargs: Any) -> None:
    """Enqueue ``func(*args)`` now; log and swallow broker errors (the sweeper re-rings)."""
    try:
        async_task(func, *args, **kwargs)
    except Exception as exc:
        # A warning without the traceback: while the broker is down every request gets here.
        logger.warning(
            "could not enqueue %s%r (%s: %s); the sweeper will retry",
            func, args, type(exc).__name__, exc,
        )  # fmt: skip


def enqueue_on_commit(func: str, *args: Any, here_if_worker: bool = False, **kwargs: Any) -> None:
    """Enqueue ``func(*args)`` so that it runs only after the current transaction commits.

    With the ORM broker the task row is written inside the transaction itself (one commit, and
    the task exists exactly when the data does); with Redis it is pushed after the commit.

    ``here_if_worker``: when this process is a queue worker, it runs ``func(*args)`` itself
    right after the commit instead (the follow-up of the task it is running, without a second
    trip through the broker). A failure there is logged; the row it was about is still the
    truth, and its sweeper rings for it.
    """
    if here_if_worker and in_worker():
        transaction.on_commit(lambda: _run_here(func, *args))
        return
    connection = transaction.get_connection()
    if uses_orm_broker() and connection.in_atomic_block:
        # No savepoint around it (two round trips per task): what can fail before the row's
        # INSERT (pickling, signing) touches no table, and a database that refuses that
        # INSERT refuses the transaction's own writes as well.
        try:
            async_task(func, *args, **kwargs)
        except DatabaseError:
            raise
        except Exception:
            logger.exception("could not enqueue %s%r; the sweeper will retry", func, args)
        return
    transaction.on_commit(lambda: enqueue(func, *args, **kwargs))


def enqueue_at(when: dt.datetime, func: str, *args: Any, within: float = 600.0) -> bool:
    """Ring for ``func(*args)`` at ``when``, from a timer in this queue worker; returns
    whether a timer was set.

    django-q2 has no delayed task, and its scheduler looks only every 30 seconds, so a row
    due in a few seconds (a retry) would wait for its sweep. In a worker, for a wait of up
    to ``within`` seconds, a timer thread rings at the time instead. The row stays the
    truth: if this process ends first (a recycled or killed worker), the sweep rings for it.
    """
    delay = (when - timezone.now()).total_seconds()
    if not in_worker() or delay > within:
        return False

    def ring() -> None:
        try:
            enqueue(func, *args)
        finally:
            connections.close_all()  # this thread's own connection

    timer = threading.Timer(max(0.0, delay) + 0.05, ring)  # never a moment early
    timer.daemon = True
    timer.start()
    return True


def _run_here(func: str, *args: Any) -> None:
    try:
        import_string(func)(*args)
    except Exception:
        logger.exception("%s%r failed in this worker; the sweeper will retry", func, args)


# Whether this process is a django-q2 worker: set once, in the worker, as it starts.
_worker = False


def in_worker() -> bool:
    """Whether this process is a queue worker (one that django-q2's cluster started)."""
    return _worker


def _mark_worker(**kwargs: Any) -> None:
    global _worker
    _worker = True


post_spawn.connect(_mark_worker, dispatch_uid="integrations.lib.queue.worker")


def schedules_connect(app_config: AppConfig, schedules: Mapping[str, Mapping[str, Any]]) -> None:
    """Create or correct ``schedules`` (name: django-q2 ``Schedule`` fields) after every
    ``migrate`` of ``app_config``'s app; called from the app's ``ready()``. Keyed by name, so
    a schedule whose task moved is corrected, not doubled."""

    def ensure(**kwargs: Any) -> None:
        from django_q.models import Schedule

        for name, spec in schedules.items():
            Schedule.objects.update_or_create(name=name, defaults={**spec, "repeats": -1})

    post_migrate.connect(ensure, sender=app_config, weak=False)
