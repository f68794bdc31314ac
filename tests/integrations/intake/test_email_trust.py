"""Who sent a lead email: DKIM verified with dkimpy against keys in DNS (a local DNS server)
when no trusted Authentication-Results header is there, and what a vendor's message is
believed for."""

from __future__ import annotations

import base64
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.intake.sources.email.message import Mail, read_message
from integrations.intake.sources.email.source import email_store
from integrations.intake.sources.email.trust import authenticate, parse_authentication_results
from leads.models import Lead

from .dns_server import txt_server

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def zillow_key() -> tuple[bytes, str]:
    """A signing key and its DNS record, as zillow.com would publish it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


@pytest.fixture
def zillow_dns(settings, zillow_key):
    settings.EMAIL_INTAKE_DOMAIN = "leads.example.com"
    settings.EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS = ["mx.leads.example.com"]
    with txt_server({"s1._domainkey.zillow.com": zillow_key[1]}) as server:
        settings.EMAIL_INTAKE_DNS_SERVERS = [server]
        settings.EMAIL_INTAKE_DNS_TIMEOUT = 2.0
        yield


def signed(raw: bytes, key: bytes, domain: str = "zillow.com") -> bytes:
    signature = dkim.sign(
        raw, b"s1", domain.encode(), key, include_headers=[b"from", b"to", b"subject", b"date"]
    )
    return signature + raw


def test_a_valid_dkim_signature_authenticates_the_vendor(zillow_dns, zillow_key, team, run_queue):
    raw = signed((FIXTURES / "zillow__buyer.eml").read_bytes(), zillow_key[0])

    email_store(raw=raw, door="pipe")
    run_queue()

    lead = Lead.objects.get()
    facts = lead.extra["email"]
    assert facts["authentication"] == {"domains": ["zillow.com"], "by": "dkim", "detail": ""}
    assert facts["sender_verified"] is True
    assert "not verified" not in lead.source_detail


def test_a_message_changed_after_signing_fails_dkim_and_is_flagged(
    zillow_dns, zillow_key, team, run_queue
):
    raw = signed((FIXTURES / "zillow__buyer.eml").read_bytes(), zillow_key[0])
    tampered = raw.replace(b"Jane Doe wants to tour", b"Eve Doe wants to tour")

    email_store(raw=tampered, door="pipe")
    run_queue()

    lead = Lead.objects.get()
    assert lead.extra["email"]["sender_verified"] is False
    assert "fails" in lead.extra["email"]["authentication"]["detail"]
    assert lead.source_detail.endswith("sender not verified")


def test_a_signature_by_another_domain_does_not_make_it_zillows(zillow_dns, team, run_queue):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    raw = signed((FIXTURES / "zillow__buyer.eml").read_bytes(), other, "zillow.com")

    email_store(raw=raw, door="pipe")
    run_queue()

    # The key in zillow.com's DNS is not the one that signed: no domain authenticated.
    assert Lead.objects.get().extra["email"]["authentication"]["domains"] == []


def test_a_trusted_authentication_results_header_is_used_without_dns(settings):
    settings.EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS = ["mx.google.com"]
    settings.EMAIL_INTAKE_DNS_SERVERS = ["127.0.0.1:9"]  # nobody: a look-up would fail
    raw = (
        b"Authentication-Results: mx.google.com;\r\n"
        b"       dkim=pass header.i=@mail.zillow.com header.s=s1 header.b=AbCd;\r\n"
        b"       spf=pass (google.com: domain of bounce@bounce.zillow.com designates 1.2.3.4"
        b" as permitted sender) smtp.mailfrom=bounce@bounce.zillow.com;\r\n"
        b"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=zillow.com\r\n"
    ) + (FIXTURES / "zillow__buyer.eml").read_bytes()
    auth = authenticate(Mail(read_message(raw), raw), door="imap")

    assert auth.by == "authentication-results:mx.google.com"
    assert auth.domains == {"mail.zillow.com", "bounce.zillow.com", "zillow.com"}
    assert auth.any_of(("zillow.com",))


def test_a_providers_own_header_is_believed_on_its_signed_webhook(settings):
    settings.EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS = []
    raw = (
        b"Authentication-Results: amazonses.com; spf=pass smtp.mailfrom=x@redfin.com;"
        b" dkim=pass header.i=@redfin.com; dmarc=pass header.from=redfin.com\r\n"
    ) + (FIXTURES / "redfin__referral.eml").read_bytes()
    mail = Mail(read_message(raw), raw)

    assert authenticate(mail, door="amazon_ses").any_of(("redfin.com",))
    # The same header reaching the pipe is nobody we trust: DKIM decides, and there is none.
    assert authenticate(mail, door="pipe").domains == frozenset()


def test_authentication_results_are_read_with_comments_versions_and_failures():
    header = parse_authentication_results(
        "mx.example.net 1; dkim=fail (bad signature) header.d=zillow.com;"
        ' spf=softfail smtp.mailfrom=a@b.example; dmarc=pass header.from="realtor.com"'
    )
    assert header is not None
    assert header.authserv_id == "mx.example.net"
    assert [(r.method, r.result) for r in header.results] == [
        ("dkim", "fail"), ("spf", "softfail"), ("dmarc", "pass"),
    ]  # fmt: skip
    assert header.results[2].properties == {"header.from": "realtor.com"}
    assert parse_authentication_results("") is None


def test_the_agent_sees_the_flag_on_the_lead_page(zillow_dns, team, alice, client, run_queue):
    from django.urls import reverse

    raw = (FIXTURES / "zillow__buyer.eml").read_bytes().replace(b"To: miami@", b"To: miami+alice@")
    email_store(raw=raw, door="pipe")  # no signature at all
    run_queue()

    lead = Lead.objects.get()
    assert lead.assigned_agent == alice  # her own address still pins it
    client.force_login(alice.user)
    page = client.get(reverse("leads:lead", args=[lead.pk]))
    assert page.status_code == 200
    assert b"sender not verified" in page.content
