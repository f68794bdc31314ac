"""``manage.py marketing_sync --full`` or ``--reconcile``: the marketing sync by hand.

``--full`` hands every contact to the platform in batches and follows them to the end,
printing the progress (the same run the admin's "Start a full sync" queues); ``--reconcile``
reads the members changed on the platform since the last reconciliation.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.marketing.base import sync_off_reason
from integrations.marketing.models import SyncRun
from integrations.marketing.services import (
    marketing_full_sync,
    marketing_full_sync_start,
    marketing_reconcile,
)


class Command(BaseCommand):
    help = "Run a full sync of every contact, or a reconciliation, with the marketing platform."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--full", action="store_true", help="push every contact (batches)")
        group.add_argument("--reconcile", action="store_true", help="read the platform's changes")
        parser.add_argument(
            "--poll", type=float, default=2.0, help="seconds between progress reads (--full)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reason = sync_off_reason()
        if reason:
            raise CommandError(reason)
        if options["reconcile"]:
            run = marketing_reconcile()
            if run is None or run.status == SyncRun.Status.FAILED:
                raise CommandError(f"Reconciliation failed: {run.error if run else reason}")
            self.stdout.write(f"Reconciled {run.done} member(s); {run.changed} contact(s) changed.")
            return
        self.full_sync(options["poll"])

    def full_sync(self, poll: float) -> None:
        started = time.monotonic()
        run = marketing_full_sync_start(enqueue=False)
        if run is None:
            raise CommandError(sync_off_reason())
        self.stdout.write(f"Full sync {run.pk}: {run.total} contact(s).")
        while True:
            run = marketing_full_sync(run_id=run.pk, wait_seconds=0, poll=poll)
            self.stdout.write(f"  {run.done}/{run.total} ({run.percent}%), {run.errored} refused")
            if run.status != SyncRun.Status.RUNNING:
                break
            time.sleep(poll)
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(f"Full sync {run.pk} failed: {run.error}")
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Full sync {run.pk} finished in {elapsed:.1f} s: {run.total} contact(s), "
                f"{len(run.batches)} batch(es), {run.errored} refused."
            )
        )
