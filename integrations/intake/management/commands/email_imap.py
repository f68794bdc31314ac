"""``manage.py email_imap``: read the lead mailbox (``EMAIL_INTAKE_IMAP_URL``) once, or with
``--idle`` keep reading it as mail arrives (IMAP IDLE), alongside the task worker."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Store the lead emails waiting in EMAIL_INTAKE_IMAP_URL's mailbox (--idle: keep going)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--idle", action="store_true", help="Wait for new mail with IDLE.")

    def handle(self, *args: Any, **options: Any) -> None:
        from integrations.intake.sources.email.imap import imap_idle, imap_poll

        if not settings.EMAIL_INTAKE_IMAP_URL:
            raise CommandError("EMAIL_INTAKE_IMAP_URL is not set.")
        if options["idle"]:
            imap_idle(on_poll=lambda result: self.stdout.write(str(vars(result))))
        else:
            self.stdout.write(str(vars(imap_poll())))
