"""Ringing the doorbell: putting work on the django-q2 queue once the rows are committed.

The queue carries only ids. If enqueueing fails (broker down, worker gone) the row is still
there and the sweeper rings again, so a failure here is logged and never raised to the sender.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task

logger = logging.getLogger(__name__)


def uses_orm_broker() -> bool:
    return "orm" in settings.Q_CLUSTER


def enqueue(func: str, *args: Any, **kwargs: Any) -> None:
    """Enqueue ``func(*args)`` now; log and swallow broker errors (the sweeper re-rings)."""
    try:
        async_task(func, *args, **kwargs)
    except Exception:
        logger.exception("could not enqueue %s%r; the sweeper will retry", func, args)


def enqueue_on_commit(func: str, *args: Any, **kwargs: Any) -> None:
    """Enqueue ``func(*args)`` so that it runs only after the current transaction commits.

    With the ORM broker the task row is written inside the transaction itself (one commit, and
    the task exists exactly when the data does); with Redis it is pushed after the commit.
    """
    connection = transaction.get_connection()
    if uses_orm_broker() and connection.in_atomic_block:
        sid = transaction.savepoint()
        try:
            async_task(func, *args, **kwargs)
        except Exception:
            transaction.savepoint_rollback(sid)
            logger.exception("could not enqueue %s%r; the sweeper will retry", func, args)
        else:
            transaction.savepoint_commit(sid)
        return
    transaction.on_commit(lambda: enqueue(func, *args, **kwargs))
