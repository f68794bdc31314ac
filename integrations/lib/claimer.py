"""A thread that takes work straight from the rows: the doorbell is the row itself.

A ``Claimer`` runs in a queue worker process beside django-q2's own loop. It claims due rows
in batches (each claim a lease, so the rows of a worker that dies are taken again when the
lease runs out), processes them one by one, and when none are left waits for more: woken by
PostgreSQL's ``NOTIFY`` on a channel (a trigger on the table sends it, so the writer pays no
round trip), and looking every ``poll`` seconds anyway, which is the only way on other
databases and the safety net for a notification sent while it was reconnecting.

It never dies of an error and never spins: an error is logged, its connections are closed, and
it waits (backing off, up to half a minute) before it connects and claims again; an empty claim
waits for a notification or the poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from .backoff import backoff

logger = logging.getLogger(__name__)

# After an error: 0.5 s, doubling up to this, each spread by a fifth so that the claimers of
# every worker do not reconnect in step.
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 30.0


class Claimer(threading.Thread):
    """Claim rows with ``claim(limit)`` (their ids), ``process(id)`` each, and
    ``release(ids)`` what is left of a batch when asked to stop.

    ``channel``: the PostgreSQL notification channel to listen on (empty, or another database:
    poll only). A daemon thread: the process may end without it, and the leases hand on what
    it held.
    """

    def __init__(
        self,
        *,
        name: str,
        claim: Callable[[int], list[int]],
        process: Callable[[int], Any],
        release: Callable[[list[int]], Any],
        batch: int,
        poll: float,
        channel: str = "",
        alias: str = DEFAULT_DB_ALIAS,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.claim, self.process, self.release = claim, process, release
        self.batch, self.poll, self.channel, self.alias = max(1, batch), poll, channel, alias
        self.claimed = 0  # rows claimed since it started (for tests and logs)
        self._stopping = threading.Event()
        self._working = threading.Lock()  # held while a batch is in hand
        self._listener: BaseDatabaseWrapper | None = None

    def run(self) -> None:
        logger.info(
            "%s started: batches of %d, looking every %g s%s", self.name, self.batch, self.poll,
            f", woken by NOTIFY {self.channel}" if self._notified() else "",
        )  # fmt: skip
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    self._listen()  # before claiming: nothing rung meanwhile is missed
                    claimed = self._take()
                    failures = 0
                    if claimed < self.batch:  # nothing more is due: wait for a ring
                        self._wait()
                except Exception as exc:
                    failures += 1
                    delay = backoff(
                        failures, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS, jitter=0.2
                    )
                    logger.error(
                        "%s: %s: %s; its connections are closed, trying again in %.1f s",
                        self.name, type(exc).__name__, exc, delay,
                        exc_info=failures == 1,  # the traceback once, not every retry
                    )  # fmt: skip
                    self._close()
                    self._stopping.wait(delay)
        except BaseException:
            logger.critical("%s stopped by an error it cannot handle", self.name, exc_info=True)
            raise
        finally:
            self._close()
        logger.info("%s stopped", self.name)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask it to stop once the row in hand is done, releasing the rest of its batch; wait
        up to ``timeout`` for that (not for a wait between batches, which holds nothing)."""
        self._stopping.set()
        if self._working.acquire(timeout=timeout):
            self._working.release()

    def _take(self) -> int:
        with self._working:
            if self._stopping.is_set():
                return 0
            ids = self.claim(self.batch)
            self.claimed += len(ids)
            for n, pk in enumerate(ids):
                if self._stopping.is_set():
                    self.release(ids[n:])
                    break
                try:
                    self.process(pk)
                except Exception:
                    # Let the others go at once; this one waits for its lease to run out.
                    with suppress(Exception):
                        self.release(ids[n + 1 :])
                    raise
            return len(ids)

    def _notified(self) -> bool:
        return bool(self.channel) and connections[self.alias].vendor == "postgresql"

    def _listen(self) -> None:
        if self._listener is not None or not self._notified():
            return
        from psycopg import sql

        listener = connections.create_connection(self.alias)  # its own, in autocommit
        try:
            listener.ensure_connection()
            listener.connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except Exception:
            with suppress(Exception):
                listener.close()
            raise
        self._listener = listener

    def _wait(self) -> None:
        if self._listener is None:
            self._stopping.wait(self.poll)
            return
        connection = self._listener.connection
        deadline = time.monotonic() + self.poll
        # In slices of a second at most, so that a stop is seen soon; no query is sent.
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            if any(True for _ in connection.notifies(timeout=min(left, 1.0), stop_after=1)):
                break
        for _ in connection.notifies(timeout=0):  # those that came with it: one claim for all
            pass

    def _close(self) -> None:
        if self._listener is not None:
            with suppress(Exception):
                self._listener.close()
            self._listener = None
        with suppress(Exception):
            connections.close_all()  # this thread's own
