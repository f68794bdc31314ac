"""The mailbox door: lead emails read from an IMAP mailbox (``EMAIL_INTAKE_IMAP_URL``), for a
Google Workspace or Microsoft 365 mailbox that the portals send to.

``imap_poll`` stores every message in the folder raw (an ``email`` event, like every door),
and only once its row is committed moves it to ``Leadline/processed`` (MOVE where the server
has it, else COPY, flag deleted, expunge), so a crash between the two leaves the message in
the inbox, stored once however often it is read again. A message larger than
``EMAIL_INTAKE_MAX_BYTES`` is not downloaded: it goes to ``Leadline/too-large`` and the log
says so. The worker's schedule polls every minute; ``manage.py email_imap --idle`` waits with
IMAP IDLE where the server offers it, so a lead is read as it arrives.

The URL: ``imaps://user:password@imap.gmail.com/INBOX`` (an app password), or
``imaps://user:ACCESS-TOKEN@outlook.office365.com/INBOX?auth=xoauth2`` (OAuth 2); ``imap://``
for a server without TLS (a local test server). Quote ``@`` in the user as ``%40``.
"""

from __future__ import annotations

import imaplib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings
from django.db import DatabaseError, transaction

from .source import email_store

logger = logging.getLogger(__name__)

PROCESSED = "Leadline/processed"
TOO_LARGE = "Leadline/too-large"
BATCH = 50
IDLE_SECONDS = 5 * 60  # servers end an IDLE after 29 minutes; renew well before


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    ssl: bool
    user: str
    secret: str
    folder: str
    oauth: bool

    @classmethod
    def from_url(cls, url: str) -> Mailbox:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise ValueError("EMAIL_INTAKE_IMAP_URL must be imaps://user:password@host/FOLDER.")
        ssl = parts.scheme == "imaps"
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or (993 if ssl else 143),
            ssl=ssl,
            user=unquote(parts.username or ""),
            secret=unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
            oauth=query.get("auth", [""])[0].lower() == "xoauth2",
        )


@dataclass
class PollResult:
    stored: int = 0
    already: int = 0
    too_large: int = 0
    left: int = 0  # not stored (the database was unreachable): read again next time


def connect(mailbox: Mailbox):  # type: ignore[no-untyped-def]
    from imapclient import IMAPClient

    client = IMAPClient(mailbox.host, port=mailbox.port, ssl=mailbox.ssl, timeout=30)
    if mailbox.oauth:
        client.oauth2_login(mailbox.user, mailbox.secret)
    else:
        client.login(mailbox.user, mailbox.secret)
    return client


def _ensure_folder(client, name: str) -> None:  # type: ignore[no-untyped-def]
    if not client.folder_exists(name):
        client.create_folder(name)


def _move(client, uids: list[int], folder: str) -> None:  # type: ignore[no-untyped-def]
    if not uids:
        return
    if client.has_capability("MOVE"):
        client.move(uids, folder)
    else:
        client.copy(uids, folder)
        client.delete_messages(uids)
        client.expunge()


def imap_poll(*, url: str | None = None, client=None) -> PollResult:  # type: ignore[no-untyped-def]
    """Store every message waiting in the mailbox's folder, then move it out of the way."""
    mailbox = Mailbox.from_url(url or settings.EMAIL_INTAKE_IMAP_URL)
    own = client is None
    client = client or connect(mailbox)
    result = PollResult()
    try:
        client.select_folder(mailbox.folder)
        uids = sorted(client.search(["ALL"]))
        if not uids:
            return result
        _ensure_folder(client, PROCESSED)
        limit = settings.EMAIL_INTAKE_MAX_BYTES
        for start in range(0, len(uids), BATCH):
            batch = uids[start : start + BATCH]
            sizes = client.fetch(batch, ["RFC822.SIZE"])
            large = [uid for uid in batch if sizes.get(uid, {}).get(b"RFC822.SIZE", 0) > limit]
            if large:
                _ensure_folder(client, TOO_LARGE)
                _move(client, large, TOO_LARGE)
                result.too_large += len(large)
                logger.warning(
                    "lead mailbox: %d message(s) over EMAIL_INTAKE_MAX_BYTES moved to %s",
                    len(large), TOO_LARGE,
                )  # fmt: skip
            wanted = [uid for uid in batch if uid not in large]
            fetched = client.fetch(wanted, ["BODY.PEEK[]"]) if wanted else {}
            done: list[int] = []
            for uid in wanted:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if not isinstance(raw, bytes):
                    continue
                try:
                    with transaction.atomic():
                        stored = email_store(raw=raw, door="imap")
                except DatabaseError:
                    logger.exception("lead mailbox: the database is unreachable; will retry")
                    result.left = len(uids) - result.stored - result.already - result.too_large
                    _move(client, done, PROCESSED)
                    return result
                # The row is committed: only now may the message leave the inbox.
                done.append(uid)
                if stored.created:
                    result.stored += 1
                else:
                    result.already += 1
            _move(client, done, PROCESSED)
    finally:
        if own:
            try:
                client.logout()
            except Exception:  # the connection may already be gone
                logger.debug("lead mailbox: logout failed", exc_info=True)
    return result


def imap_idle(
    *,
    url: str | None = None,
    stop: threading.Event | None = None,
    on_poll: Callable[[PollResult], None] | None = None,
    idle_seconds: float = IDLE_SECONDS,
) -> None:
    """Poll, then wait with IDLE for the server to announce new mail, and poll again; until
    ``stop`` is set. A server without IDLE is polled every ``idle_seconds``."""
    mailbox = Mailbox.from_url(url or settings.EMAIL_INTAKE_IMAP_URL)
    stop = stop or threading.Event()
    while not stop.is_set():
        client = connect(mailbox)
        try:
            while not stop.is_set():
                result = imap_poll(url=url, client=client)
                if on_poll is not None:
                    on_poll(result)
                if not client.has_capability("IDLE"):
                    stop.wait(idle_seconds)
                    continue
                client.select_folder(mailbox.folder)
                client.idle()
                waited = 0.0
                try:
                    while not stop.is_set() and waited < idle_seconds:
                        responses = client.idle_check(timeout=1)
                        waited += 1
                        if any(b"EXISTS" in r for r in responses if isinstance(r, tuple)):
                            break
                finally:
                    client.idle_done()
        except (OSError, DatabaseError):
            logger.warning("lead mailbox: connection lost; reconnecting", exc_info=True)
            stop.wait(5)
        except imaplib.IMAP4.abort:
            # The server's answer broke off (imaplib's "unterminated line" when an untagged
            # response arrives split around IDLE's one-second read): the idler reconnects and
            # polls again at once instead of dying with its thread.
            logger.warning(
                "lead mailbox: the server's answer broke off; reconnecting", exc_info=True
            )
            stop.wait(0.5)
        finally:
            try:
                client.logout()
            except Exception:
                logger.debug("lead mailbox: logout failed", exc_info=True)
