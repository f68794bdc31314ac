"""Where a webhook goes: https to the address that was checked, with no second look-up.

A local HTTPS receiver with a certificate for ``hooks.leadline.test`` (from a CA of the
test's own, trusted through ``REQUESTS_CA_BUNDLE``), and a resolver of the test's own for
that name: the delivery must reach the receiver at the address our check resolved, speaking
TLS to the name in the URL (SNI, certificate, ``Host``), and a DNS answer that changes after
the check (a rebinding to a private address) must not lead the request there.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone
from standardwebhooks import Webhook

from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from integrations.webhooks.services import webhook_deliver, webhooks_enqueue

pytestmark = pytest.mark.django_db
NAME = "hooks.leadline.test"
PUBLIC = "93.184.215.14"  # a public address, where no receiver of ours listens


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer, ca: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


class HttpsReceiver:
    """An HTTPS server on 127.0.0.1 for ``NAME``: records each request's SNI, headers, body."""

    def __init__(self, folder: Path) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Leadline test CA")])
        ca = _certificate("Leadline test CA", ca_key, ca_name, ca_key, ca=True)
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(NAME, key, ca_name, ca_key, ca=False)
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        chain = folder / "server.pem"
        chain.write_bytes(
            certificate.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.requests: list[tuple[str | None, dict[str, str], bytes]] = []
        self.server_names: list[str | None] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append((receiver.server_names[-1], headers, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def https_receiver(tmp_path, monkeypatch) -> Iterator[HttpsReceiver]:
    receiver = HttpsReceiver(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(receiver.ca_file))
    yield receiver
    receiver.stop()


class Resolver:
    """DNS for the test's names: each look-up takes the next answer (the last one repeats)."""

    def __init__(self, monkeypatch, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []
        self.real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host, port, *args, **kwargs):
        if host not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(host)
        queue = self.answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        if address == "NXDOMAIN":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 443)))]


def deliver_one(url: str, team) -> WebhookDelivery:
    subscription = WebhookSubscription.objects.create(name="CRM", url=url, team=team)
    [delivery] = webhooks_enqueue(
        event_type="lead.created", team_ids=[team.pk], data={"lead": {"id": 1}}
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.subscription_id == subscription.pk
    return delivery


def test_it_connects_to_the_address_it_checked_speaking_tls_to_the_urls_host(
    https_receiver, monkeypatch, settings, team
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver is on this machine
    # One answer, then the name is gone: a second look-up by the HTTP library would fail.
    resolver = Resolver(monkeypatch, {NAME: ["127.0.0.1", "NXDOMAIN"]})

    delivery = deliver_one(f"https://{NAME}:{https_receiver.port}/in", team)

    assert (delivery.status, delivery.last_error) == ("delivered", "")
    assert resolver.lookups == [NAME]
    [(server_name, headers, body)] = https_receiver.requests
    assert server_name == NAME  # SNI: the URL's host, not the address
    assert headers["host"] == f"{NAME}:{https_receiver.port}"
    secret = WebhookSubscription.objects.get().secret
    assert Webhook(secret).verify(body, headers)["type"] == "lead.created"


def test_a_dns_answer_that_changes_after_the_check_does_not_lead_inside(
    https_receiver, monkeypatch, settings, team
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    # DNS rebinding: public when we check, this machine a moment later.
    Resolver(monkeypatch, {NAME: [PUBLIC, "127.0.0.1"]})

    delivery = deliver_one(f"https://{NAME}:{https_receiver.port}/in", team)

    assert https_receiver.requests == []  # the private receiver was never reached
    assert delivery.status == "pending"
    assert delivery.last_error  # the public address did not answer: retried later


def test_the_certificate_must_be_for_the_urls_host(https_receiver, monkeypatch, settings, team):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    Resolver(monkeypatch, {"other.leadline.test": ["127.0.0.1"]})

    delivery = deliver_one(f"https://other.leadline.test:{https_receiver.port}/in", team)

    assert https_receiver.requests == []
    assert delivery.status == "pending"
    assert "ConnectionError" in delivery.last_error or "SSL" in delivery.last_error
