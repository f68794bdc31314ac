"""``manage.py email_ingest``: the pipe door for lead emails.

A mail server delivers with ``| manage.py email_ingest --recipient ${recipient}`` (Postfix's
pipe(8), Exim's pipe transport); an operator feeds saved messages with file paths or
``--maildir DIR``. Each message is stored raw as an ``email`` event and parsed by the worker.

Exit status, as sysexits(3) and the MTA expect:

- 0: every message stored, or already stored (a message is one event however often it comes);
- 65 (EX_DATAERR): bytes that are not a message, or larger than ``EMAIL_INTAKE_MAX_BYTES``;
  the MTA bounces it to its sender, and what was readable is kept as a failed event;
- 75 (EX_TEMPFAIL): the database could not be reached; nothing was stored and the MTA keeps
  the message and tries again later;
- 66 (EX_NOINPUT): a file or maildir given does not exist.
"""

from __future__ import annotations

import mailbox
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, InterfaceError, connection

EX_OK = 0
EX_DATAERR = 65
EX_NOINPUT = 66
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = (
        "Store lead emails (raw RFC 822) from stdin, files or a maildir. Exit 0 stored, "
        "65 not a message, 75 database unreachable (retry)."
    )
    requires_system_checks: list[str] = []  # a pipe from the MTA must not fail on a warning

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="*", help="Message files (.eml); none: read stdin.")
        parser.add_argument("--maildir", help="Store every message of this maildir.")
        parser.add_argument(
            "--recipient",
            default="",
            help="The envelope recipient as the MTA knows it (Postfix: ${recipient}); "
            "otherwise Delivered-To, X-Original-To, then To decide.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        status = EX_OK
        try:
            for name, raw in self.messages(options):
                status = max(status, self.ingest(name, raw, options["recipient"]))
                if status == EX_TEMPFAIL:
                    break
        except FileNotFoundError as exc:
            self.stderr.write(f"email_ingest: {exc}")
            status = max(status, EX_NOINPUT)
        sys.exit(status)

    def messages(self, options: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
        limit = settings.EMAIL_INTAKE_MAX_BYTES
        if options["maildir"]:
            folder = Path(options["maildir"])
            if not (folder / "cur").is_dir() and not (folder / "new").is_dir():
                raise FileNotFoundError(f"{folder} is not a maildir (no cur/ or new/).")
            box = mailbox.Maildir(folder, factory=None, create=False)
            for key in sorted(box.keys()):
                with box.get_file(key) as handle:
                    yield f"{folder}/{key}", handle.read(limit + 1)
        for path in options["paths"]:
            with open(path, "rb") as handle:
                yield path, handle.read(limit + 1)
        if not options["paths"] and not options["maildir"]:
            yield "stdin", sys.stdin.buffer.read(limit + 1)

    def ingest(self, name: str, raw: bytes, recipient: str) -> int:
        from integrations.intake.models import InboundEvent
        from integrations.intake.sources.email.source import email_store

        if len(raw) > settings.EMAIL_INTAKE_MAX_BYTES:
            self.stderr.write(
                f"email_ingest: {name}: larger than EMAIL_INTAKE_MAX_BYTES "
                f"({settings.EMAIL_INTAKE_MAX_BYTES} bytes); not stored."
            )
            return EX_DATAERR
        try:
            stored = email_store(raw=raw, door="pipe", recipient=recipient)
        except (DatabaseError, InterfaceError) as exc:
            self.stderr.write(f"email_ingest: {name}: database unreachable, try later: {exc}")
            connection.close()
            return EX_TEMPFAIL
        event = stored.event
        if event.status == InboundEvent.Status.FAILED and event.content_type != "message/rfc822":
            self.stderr.write(f"email_ingest: {name}: not a mail message: {event.error}")
            return EX_DATAERR
        said = "stored" if stored.created else "already stored"
        self.stdout.write(f"{name}: {said} as event {event.public_id}")
        return EX_OK
