"""Random and malformed MIME at every door: never a crash, never a lost message; and the same
message by two doors, or ten times at once, is one lead."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from integrations.intake.models import InboundEvent
from integrations.intake.services import event_process
from integrations.intake.sources.email.source import email_store
from leads.models import Lead

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
SAMPLES = sorted(p.read_bytes() for p in FIXTURES.glob("*.eml"))
SECRET = "leadline:fuzz-secret-9"
KEY = "key-fuzz-0123456789"

pytestmark = [pytest.mark.django_db]

header_names = st.sampled_from(
    ["From", "To", "Subject", "Date", "Message-ID", "Content-Type", "Delivered-To",
     "Content-Transfer-Encoding", "Authentication-Results", "DKIM-Signature", "Reply-To",
     "MIME-Version", "X-Original-To", "Auto-Submitted"]
)  # fmt: skip
header_values = st.one_of(
    st.text(max_size=120),
    st.sampled_from(
        ['multipart/mixed; boundary="b"', "multipart/alternative", "text/html; charset=bogus",
         "base64", "quoted-printable", "<a@b>", "miami@leads.example.com", "=?utf-8?b?w6k=?=",
         "=?x-unknown?q?=FF?=", "mx.leads.example.com; dkim=pass header.d=zillow.com",
         "v=1; a=rsa-sha256; d=zillow.com; s=s1; b=AAAA; bh=BBBB; h=from"]
    ),
)  # fmt: skip
structured = st.builds(
    lambda headers, body: (
        "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8", "replace")
        + b"\r\n"
        + body
    ),
    st.lists(st.tuples(header_names, header_values), max_size=12),
    st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(str.encode)),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real lead email with bytes cut out, replaced or inserted."""
    raw = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw)))
        kind = draw(st.sampled_from(["cut", "insert", "replace"]))
        chunk = draw(st.binary(min_size=1, max_size=40))
        if kind == "cut":
            del raw[at : at + len(chunk)]
        elif kind == "insert":
            raw[at:at] = chunk
        else:
            raw[at : at + len(chunk)] = chunk
    return bytes(raw)


any_message = st.one_of(st.binary(max_size=3000), structured, mutated())


@pytest.fixture
def doors(settings):
    settings.EMAIL_INTAKE_DOMAIN = "leads.example.com"
    settings.EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS = ["mx.leads.example.com"]
    settings.EMAIL_INTAKE_DNS_SERVERS = ["127.0.0.1:9"]  # DKIM look-ups fail fast, locally
    settings.EMAIL_INTAKE_DNS_TIMEOUT = 0.2
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": KEY}


FUZZ = hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(raw=any_message)
def test_the_pipe_stores_anything_and_the_worker_never_crashes_on_it(doors, team, raw):
    stored = email_store(raw=raw, door="pipe")

    event = InboundEvent.objects.get(pk=stored.event.pk)
    assert bytes(event.body) == raw or not stored.created  # kept as it came
    processed = event_process(event_id=event.pk)
    assert processed is not None
    # Read, refused with a reason, or ignored with one: never an unexpected error left behind.
    assert processed.status in ("processed", "failed", "ignored"), processed.error
    if processed.status == "failed":
        assert processed.error


def mailgun_post(client, raw: bytes):
    timestamp, token = str(int(time.time())), "f" * 50
    signature = hmac.new(KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    fields = {
        "timestamp": timestamp, "token": token, "signature": signature,
        "body-mime": raw.decode("utf-8", "surrogateescape").encode("utf-8", "replace").decode(),
    }  # fmt: skip
    auth = base64.b64encode(SECRET.encode()).decode()
    return client.post(
        "/hooks/email/mailgun/inbound_mime/", fields, headers={"authorization": f"Basic {auth}"}
    )


@FUZZ
@given(raw=any_message)
def test_a_providers_webhook_never_answers_500_and_keeps_what_it_accepts(doors, client, raw):
    before = InboundEvent.objects.count()

    response = mailgun_post(client, raw)

    assert response.status_code in (200, 400), response.content[:200]
    if response.status_code == 200:
        assert InboundEvent.objects.count() in (before, before + 1)


def test_the_same_message_by_two_doors_is_one_lead(doors, team, client, run_queue):
    raw = (FIXTURES / "leadmetadata__head.eml").read_bytes()
    email_store(raw=raw, door="pipe")
    assert mailgun_post(client, raw).status_code == 200
    run_queue()

    assert InboundEvent.objects.filter(source="email").count() == 1
    assert Lead.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_message_ten_times_at_once_is_one_lead(doors, team):
    raw = (FIXTURES / "leadmetadata__head.eml").read_bytes()
    start = threading.Barrier(10)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            start.wait()
            stored = email_store(raw=raw, door="pipe")
            event_process(event_id=stored.event.pk)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert InboundEvent.objects.filter(source="email").count() == 1
    assert Lead.objects.count() == 1
    assert InboundEvent.objects.get(source="email").status == "processed"
