"""The lead mailbox: read from a real IMAP server (pymap, in memory, with IDLE and MOVE),
each message stored raw and then moved to Leadline/processed; too large ones set aside."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import DatabaseError
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from integrations.intake.models import InboundEvent
from integrations.intake.sources.email import imap
from integrations.intake.sources.email.imap import (
    PROCESSED,
    TOO_LARGE,
    Mailbox,
    imap_idle,
    imap_poll,
)
from integrations.intake.tasks import SCHEDULES
from leads.models import Lead

from .test_email_fuzz import mutated, structured

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"

pytestmark = [pytest.mark.django_db]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def imap_server() -> Iterator[str]:
    """A pymap server with one empty mailbox; yields its URL."""
    port = free_port()
    pymap = Path(sys.executable).with_name("pymap")
    process = subprocess.Popen(
        [str(pymap), "--host", "127.0.0.1", "--port", str(port), "--no-tls",
         "dict", "--demo-user", "leads@example.com", "--demo-password", "app-password"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"imap://leads%40example.com:app-password@127.0.0.1:{port}/INBOX"
    finally:
        process.terminate()
        process.wait(timeout=10)


def client_for(url: str) -> IMAPClient:
    mailbox = Mailbox.from_url(url)
    client = IMAPClient(mailbox.host, port=mailbox.port, ssl=False)
    client.login(mailbox.user, mailbox.secret)
    return client


def deliver(url: str, *names: str) -> None:
    with client_for(url) as client:
        for name in names:
            client.append("INBOX", (FIXTURES / name).read_bytes())


def folder_count(url: str, folder: str) -> int:
    with client_for(url) as client:
        if not client.folder_exists(folder):
            return 0
        client.select_folder(folder, readonly=True)
        return len(client.search(["ALL"]))


@pytest.fixture
def intake_domain(settings):
    settings.EMAIL_INTAKE_DOMAIN = "leads.example.com"


def test_the_url_reads_user_password_host_folder_and_oauth():
    box = Mailbox.from_url("imaps://leads%40x.com:s3cr%2Ft@imap.gmail.com/Leads%20In")
    assert (box.host, box.port, box.ssl, box.user, box.secret, box.folder, box.oauth) == (
        "imap.gmail.com", 993, True, "leads@x.com", "s3cr/t", "Leads In", False,
    )  # fmt: skip
    assert Mailbox.from_url("imaps://u:tok@outlook.office365.com/INBOX?auth=xoauth2").oauth
    with pytest.raises(ValueError, match="imaps://"):
        Mailbox.from_url("https://example.com/")


def test_each_message_is_stored_raw_then_moved_to_processed(
    imap_server, intake_domain, team, run_queue
):
    deliver(imap_server, "leadmetadata__head.eml", "zillow__buyer.eml")

    result = imap_poll(url=imap_server)

    assert (result.stored, result.already) == (2, 0)
    events = InboundEvent.objects.filter(source="email").order_by("pk")
    assert [e.meta["door"] for e in events] == ["imap", "imap"]
    assert bytes(events[0].body).replace(b"\r\n", b"\n") == (
        FIXTURES / "leadmetadata__head.eml"
    ).read_bytes().replace(b"\r\n", b"\n")
    assert folder_count(imap_server, "INBOX") == 0
    assert folder_count(imap_server, PROCESSED) == 2
    run_queue()
    assert Lead.objects.count() == 2

    # Nothing new: nothing stored; the same message again: one event still.
    assert imap_poll(url=imap_server).stored == 0
    deliver(imap_server, "leadmetadata__head.eml")
    again = imap_poll(url=imap_server)
    assert (again.stored, again.already) == (0, 1)
    assert InboundEvent.objects.filter(source="email").count() == 2


def test_a_message_stays_in_the_inbox_when_the_database_is_unreachable(
    imap_server, intake_domain, monkeypatch
):
    deliver(imap_server, "leadmetadata__head.eml")

    def unreachable(**kwargs):
        raise DatabaseError("could not connect to server")

    monkeypatch.setattr(imap, "email_store", unreachable)
    result = imap_poll(url=imap_server)

    assert (result.stored, result.left) == (0, 1)
    assert folder_count(imap_server, "INBOX") == 1  # read again next time
    assert folder_count(imap_server, PROCESSED) == 0


def test_a_message_over_the_size_limit_is_set_aside_not_downloaded(
    imap_server, intake_domain, settings
):
    settings.EMAIL_INTAKE_MAX_BYTES = 1500
    deliver(imap_server, "leadmetadata__head.eml", "fallback__inquiry.eml")

    result = imap_poll(url=imap_server)

    assert (result.stored, result.too_large) == (1, 1)
    assert folder_count(imap_server, TOO_LARGE) == 1
    assert folder_count(imap_server, PROCESSED) == 1


@pytest.mark.django_db(transaction=True)
def test_idle_reads_a_message_as_it_arrives(imap_server, intake_domain):
    polls: list[int] = []
    arrived = threading.Event()
    stop = threading.Event()

    def on_poll(result):
        polls.append(result.stored + result.already + result.left)
        if len(polls) >= 2:
            arrived.set()

    # The poller's thread has its own database connection: the test commits for real.
    thread = threading.Thread(
        target=imap_idle,
        kwargs={"url": imap_server, "stop": stop, "on_poll": on_poll, "idle_seconds": 60},
        daemon=True,
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not polls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert polls == [0]  # the first poll found an empty mailbox, then IDLE
        sent = time.monotonic()
        deliver(imap_server, "leadmetadata__head.eml")
        assert arrived.wait(timeout=10)
        assert time.monotonic() - sent < 5  # not a minute late: IDLE woke it
        assert polls[1] == 1
        assert InboundEvent.objects.filter(source="email", meta__door="imap").count() == 1
    finally:
        stop.set()
        thread.join(timeout=10)


def test_the_worker_polls_the_mailbox_every_minute():
    assert SCHEDULES["poll lead mailbox"]["func"] == "integrations.intake.tasks.poll_lead_mailbox"
    assert SCHEDULES["poll lead mailbox"]["minutes"] == 1


@hsettings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.one_of(mutated(), structured, st.binary(min_size=1, max_size=500)))
def test_random_mime_in_the_mailbox_is_stored_or_set_aside_never_lost(
    imap_server, intake_domain, raw
):
    with client_for(imap_server) as client:
        try:
            client.append("INBOX", raw)
        except IMAPClientError:
            return  # the server itself refused it: nothing reached the mailbox
    before = InboundEvent.objects.count()

    result = imap_poll(url=imap_server)

    assert folder_count(imap_server, "INBOX") == 0  # every message left only once stored
    assert result.stored + result.already + result.too_large == 1
    assert InboundEvent.objects.count() == before + result.stored
