"""The mail providers' inbound webhooks (django-anymail) under /hooks/email/: each post made
and authenticated the way the provider makes it; a forged one refused with nothing stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.test import Client

from integrations.intake.models import InboundEvent
from integrations.lib import http
from leads.models import Lead
from tests.integrations.sns import sns_signing_key

from .test_zillow import CERT_URL, FakeOutside, aws_string_to_sign

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
RAW = (FIXTURES / "leadmetadata__head.eml").read_bytes()
SECRET = "leadline:7hB2q-Lp0x9Zr4"
SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("providers")]


@pytest.fixture
def providers(settings):
    settings.EMAIL_INTAKE_DOMAIN = "leads.example.com"
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


def basic(secret: str = SECRET) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


@pytest.fixture
def sns_key(monkeypatch):
    """Amazon's SNS signing key, as the Zillow tests stand it in: a key, its self-signed
    certificate served at the certificate URL through ``integrations.lib.http``."""
    key, pem = sns_signing_key()
    monkeypatch.setattr(http, "request", FakeOutside(pem))
    return key


def mailgun_fields(key: str = SIGNING_KEY) -> dict[str, str]:
    """Mailgun's signature: HMAC-SHA256 of timestamp + token with the webhook signing key."""
    timestamp, token = str(int(time.time())), "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": signature}


def ses_notification(raw: bytes = RAW, key=None) -> tuple[bytes, dict[str, str]]:
    """An Amazon SNS notification of an SES receipt rule's SNS action (base64 content),
    signed with ``key`` as SNS signs (SignatureVersion 2: SHA256withRSA)."""
    message = {
        "notificationType": "Received",
        "mail": {"source": "leads@idx.example.net", "destination": ["miami@leads.example.com"]},
        "receipt": {
            "recipients": ["miami@leads.example.com"],
            "spamVerdict": {"status": "PASS"},
            "action": {
                "type": "SNS",
                "topicArn": "arn:aws:sns:us-east-1:1:leads",
                "encoding": "BASE64",
            },
        },
        "content": base64.b64encode(raw).decode(),
    }
    body = {
        "Type": "Notification",
        "MessageId": "7c1a2b3c-1111-2222-3333-444455556666",
        "TopicArn": "arn:aws:sns:us-east-1:1:leads",
        "Message": json.dumps(message),
        "Timestamp": "2026-12-01T19:05:00.000Z",
        "SignatureVersion": "2",
        "SigningCertURL": CERT_URL,
    }
    if key is not None:
        signature = key.sign(aws_string_to_sign(body), padding.PKCS1v15(), hashes.SHA256())
        body["Signature"] = base64.b64encode(signature).decode()
    headers = {
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": body["MessageId"],
    }
    return json.dumps(body).encode(), headers


def test_mailgun_raw_mime_route_stores_the_message_and_makes_the_lead(
    client: Client, team, beach, run_queue
):
    fields = {**mailgun_fields(), "recipient": "miami@leads.example.com", "body-mime": RAW.decode()}
    response = client.post("/hooks/email/mailgun/inbound_mime/", fields, headers=basic())

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.source, event.meta["door"], event.meta["recipient"]) == (
        "email", "mailgun", "miami@leads.example.com",
    )  # fmt: skip
    assert event.external_id == "mid:lm-head-0001@idx.example.net"
    run_queue()
    assert Lead.objects.get().property_zip == "33139"


def test_mailgun_forged_signature_is_refused_and_nothing_stored(client: Client, team):
    fields = {**mailgun_fields("not-the-key"), "body-mime": RAW.decode()}
    response = client.post("/hooks/email/mailgun/inbound_mime/", fields, headers=basic())

    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_postmark_with_basic_auth(client: Client, team, run_queue):
    body = {
        "FromFull": {"Email": "leads@idx.example.net", "Name": "Ocean Drive IDX"},
        "ToFull": [{"Email": "miami@leads.example.com", "Name": ""}],
        "OriginalRecipient": "miami@leads.example.com",
        "Subject": "New website lead - Jordan Rivera",
        "MessageID": "0b6f1e5e-postmark",
        "Headers": [{"Name": "Message-ID", "Value": "<lm-head-0001@idx.example.net>"}],
        "RawEmail": RAW.decode(),
        "TextBody": "",
        "HtmlBody": "",
        "Attachments": [],
    }
    response = client.post(
        "/hooks/email/postmark/inbound/", json.dumps(body), content_type="application/json",
        headers=basic(),
    )  # fmt: skip

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.meta["door"] == "postmark"
    run_queue()
    assert Lead.objects.count() == 1


def test_postmark_without_the_secret_is_refused(client: Client, team):
    response = client.post(
        "/hooks/email/postmark/inbound/", json.dumps({"RawEmail": RAW.decode()}),
        content_type="application/json", headers=basic("leadline:guess"),
    )  # fmt: skip
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_sendgrid_raw_with_basic_auth(client: Client, team):
    fields = {
        "email": RAW.decode(),
        "envelope": json.dumps(
            {"to": ["miami@leads.example.com"], "from": "leads@idx.example.net"}
        ),
        "charsets": json.dumps({"email": "utf-8", "envelope": "utf-8"}),
    }
    response = client.post("/hooks/email/sendgrid/inbound/", fields, headers=basic())

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.meta["door"], event.meta["recipient"]) == ("sendgrid", "miami@leads.example.com")


def test_amazon_ses_sns_notification_with_basic_auth(client: Client, team, run_queue, sns_key):
    body, headers = ses_notification(key=sns_key)
    response = client.post(
        "/hooks/email/amazon_ses/inbound/", body, content_type="text/plain; charset=UTF-8",
        headers={**headers, **basic()},
    )  # fmt: skip

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert bytes(event.body).endswith(RAW.split(b"\n", 1)[1][-200:])
    assert event.meta["door"] == "amazon_ses"
    run_queue()
    assert Lead.objects.count() == 1


def test_amazon_ses_with_a_forged_sns_signature_is_refused(client: Client, sns_key):
    body, headers = ses_notification()  # unsigned
    response = client.post(
        "/hooks/email/amazon_ses/inbound/", body, content_type="text/plain",
        headers={**headers, **basic()},
    )  # fmt: skip
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_amazon_ses_without_credentials_is_asked_for_them_and_stores_nothing(
    client: Client, sns_key
):
    body, headers = ses_notification(key=sns_key)
    response = client.post(
        "/hooks/email/amazon_ses/inbound/", body, content_type="text/plain", headers=headers
    )
    assert response.status_code == 401
    assert not InboundEvent.objects.exists()


def test_the_same_message_by_a_provider_and_by_the_pipe_is_one_event(client: Client, team):
    from integrations.intake.sources.email.source import email_store

    email_store(raw=RAW, door="pipe")
    fields = {**mailgun_fields(), "body-mime": RAW.decode()}
    response = client.post("/hooks/email/mailgun/inbound_mime/", fields, headers=basic())
    assert response.status_code == 200

    assert InboundEvent.objects.filter(source="email").count() == 1


def test_a_provider_whose_secret_is_unset_is_off(client: Client, settings):
    settings.ANYMAIL = {}
    fields = {**mailgun_fields(), "body-mime": RAW.decode()}
    assert client.post("/hooks/email/mailgun/inbound_mime/", fields).status_code == 404
    body, headers = ses_notification()
    response = client.post(
        "/hooks/email/amazon_ses/inbound/", body, content_type="text/plain", headers=headers
    )
    assert response.status_code == 404
    assert not InboundEvent.objects.exists()


def test_a_post_larger_than_the_limit_is_refused_413(client: Client, settings):
    settings.EMAIL_INTAKE_WEBHOOK_MAX_BYTES = 2000
    fields = {**mailgun_fields(), "body-mime": RAW.decode() + "x" * 3000}
    response = client.post("/hooks/email/mailgun/inbound_mime/", fields)
    assert response.status_code == 413
    assert not InboundEvent.objects.exists()


def test_a_lead_email_larger_than_the_form_limit_is_accepted(client: Client, team, settings):
    """Django's DATA_UPLOAD_MAX_MEMORY_SIZE (256 KB, for forms) does not apply here."""
    attachment = base64.encodebytes(b"\x00" * 400_000).decode()
    big = RAW.replace(b"--=_b1--", (
        "--=_b1\r\nContent-Type: application/pdf; name=\"brochure.pdf\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + attachment + "\r\n--=_b1--"
    ).encode())  # fmt: skip
    assert len(big) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    fields = {**mailgun_fields(), "body-mime": big.decode()}
    response = client.post("/hooks/email/mailgun/inbound_mime/", fields, headers=basic())

    assert response.status_code == 200
    assert len(bytes(InboundEvent.objects.get().body)) >= len(big) - 100


# --- Hostile posts (bench/hostile.py found each a 500) ----------------------------------------

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    "body",
    [b"", b'{"RawEmail": "unterminated', DEEP, b'[{"RawEmail": "x"}]', b'{"RawEmail": {"a": 1}}',
     b'{"RawEmail": "\xc3\x28"}', b'{"RawEmail": "Subject: hi\\ud800\\n\\nbody"}'],
    ids=["empty", "invalid JSON", "deep", "array", "object for RawEmail", "not UTF-8", "surrogate"],
)  # fmt: skip
def test_an_authentic_postmark_post_with_no_readable_message_is_kept_failed_and_a_400(
    client: Client, body: bytes
):
    response = client.post(
        "/hooks/email/postmark/inbound/", body, content_type="application/json", headers=basic()
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("The postmark post holds no message")
    event = InboundEvent.objects.get()
    assert (event.source, event.status, bytes(event.body)) == ("email", "failed", body)
    assert event.error.startswith("The postmark post holds no message")


def test_a_kept_unreadable_post_replayed_fails_again_with_its_reason(client: Client, run_queue):
    from integrations.intake.services import events_replay

    client.post(
        "/hooks/email/postmark/inbound/", b"[1]", content_type="application/json", headers=basic()
    )
    event = InboundEvent.objects.get()

    events_replay(events=[event])
    run_queue()

    event.refresh_from_db()
    assert event.status == "failed"
    assert event.error.startswith("The postmark post holds no message")
    assert not Lead.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "application/xml"])
def test_a_sendgrid_post_in_another_content_type_is_kept_failed_and_a_400(
    client: Client, content_type: str
):
    response = client.post(
        "/hooks/email/sendgrid/inbound/", b"email=x", content_type=content_type, headers=basic()
    )

    assert response.status_code == 400
    assert "missing both 'headers' and 'email'" in response.json()["error"]
    assert InboundEvent.objects.get().status == "failed"


def test_a_signed_mailgun_post_without_its_message_fields_is_kept_failed_and_a_400(
    client: Client,
):
    response = client.post("/hooks/email/mailgun/inbound_mime/", mailgun_fields(), headers=basic())

    assert response.status_code == 400
    assert "message-headers" in response.json()["error"]
    assert InboundEvent.objects.get().status == "failed"


def test_a_forged_postmark_post_that_is_also_unreadable_stores_nothing(client: Client):
    response = client.post(
        "/hooks/email/postmark/inbound/", b"[", content_type="application/json",
        headers=basic("leadline:guess"),
    )  # fmt: skip

    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.postgres
def test_a_nul_in_the_mailgun_recipient_is_cleaned_and_the_message_kept(client: Client):
    fields = {
        **mailgun_fields(),
        "recipient": "miami@leads.example.com\x00",
        "body-mime": RAW.decode(),
    }

    response = client.post("/hooks/email/mailgun/inbound_mime/", fields, headers=basic())

    assert response.status_code == 200
    assert InboundEvent.objects.get().meta["recipient"] == "miami@leads.example.com\ufffd"


@pytest.mark.parametrize("credentials", [None, "leadline:guess"])
def test_amazon_ses_checks_the_credentials_before_fetching_amazons_certificate(
    client: Client, monkeypatch, credentials
):
    outside = FakeOutside(b"")
    monkeypatch.setattr(http, "request", outside)
    body, headers = ses_notification()
    if credentials:
        headers = {**headers, **basic(credentials)}

    response = client.post(
        "/hooks/email/amazon_ses/inbound/", body, content_type="text/plain", headers=headers
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert outside.calls == []
    assert not InboundEvent.objects.exists()
