"""No secret in any log: the demo's whole path at DEBUG, every secret configured, logs grepped.

Logging is configured as production configures it (``settings.LOGGING``) with the root at
DEBUG (``LOG_LEVEL=DEBUG``), so every library's logger speaks, urllib3's request lines
included; what the handlers write (and the mail to ``ADMINS``) is captured. Then leads come
in at every door, the workers capture and route them, alerts go out by SMS (the real
``twilio`` client to a local Twilio) and email, Facebook's leads are read from a local Graph
API, contacts are pushed to a local Mailchimp, webhooks are delivered, requests are refused
with a token in their path; and no secret's value appears anywhere in what was written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.core import mail
from django.test import Client
from twilio.request_validator import RequestValidator

from integrations.intake.models import FacebookPage, InboundEvent, WebForm
from integrations.intake.sources.webform import render_token
from integrations.lib import http
from integrations.marketing import base as marketing_base
from integrations.webhooks.models import WebhookSubscription
from leads.models import Agent, Lead, Team
from leads.services import api_token_create
from tests.integrations.sns import sns_signing_key

from .alerts.twilio_server import twilio_server
from .intake.graph_server import GraphServer
from .marketing.fake_mailchimp import FakeMailchimp
from .webhooks.conftest import Receiver

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
PAGE_ID = "516540199134611"
ZILLOW_TOPIC = "arn:aws:sns:us-east-1:324733501228:zillow-tech-connect-leadline"
ZILLOW_CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/"
    "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
)

# Every secret a deployment has, each a value found nowhere else.
SECRETS = {
    "SECRET_KEY": "sk-Xq3wLz9Rb7Tn2Vm8Kp4Yd6Hf1Jc5Gs0Ae",
    "TWILIO_AUTH_TOKEN": "tw1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d",
    "MAILCHIMP_API_KEY": "mc9f8e7d6c5b4a39281706f5e4d3c2b1a0-us19",
    "MAILCHIMP_WEBHOOK_TOKEN": "mchook-Pq7Rs2Tu9Vw4Xy6Za1Bc3De",
    "FACEBOOK_APP_SECRET": "fbappsecret-Lm5No8Pq1Rs4Tu7Vw",
    "FACEBOOK_VERIFY_TOKEN": "fbverify-Gh2Ij5Kl8Mn1Op4Qr",
    "REALTOR_API_KEY": "rdc-Yz3Ab6Cd9Ef2Gh5Ij8Kl",
    "ZILLOW_RENTALS_TOKEN": "zr-St4Uv7Wx0Yz3Ab6Cd9Ef2",
    "ZILLOW_BASIC_AUTH": "zillow:zpw-Mn8Op1Qr4St7Uv0Wx",
    "GOOGLE_OAUTH2_SECRET": "GOCSPX-Hj6Kl9Mn2Op5Qr8St1Uv",
    "METRICS_TOKEN": "metrics-Ab1Cd4Ef7Gh0Ij3Kl6Mn",
    "EMAIL_HOST_PASSWORD": "smtp-Qw2Er5Ty8Ui1Op4As7Df",
}
PAGE_TOKEN = "EAAB-page-token-Zx9Cv6Bn3Mm0Ll7Kk4Jj"
FERNET_KEY = Fernet.generate_key().decode()


@pytest.fixture
def debug_logs(settings) -> Iterator[io.StringIO]:
    """Production's logging at DEBUG; yields what every handler wrote."""
    config = {**settings.LOGGING, "root": {**settings.LOGGING["root"], "level": "DEBUG"}}
    logging.config.dictConfig(config)
    written = io.StringIO()
    handlers = {h for h in logging.root.handlers if h.get_name() == "console"}
    handlers |= {h for h in logging.getLogger("django.server").handlers if h.get_name()}
    for handler in handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(written)
    try:
        yield written
    finally:
        logging.config.dictConfig(settings.LOGGING)


@pytest.fixture
def configured(settings) -> None:
    for name, value in SECRETS.items():
        setattr(settings, "SOCIAL_AUTH_" + name if name.startswith("GOOGLE") else name, value)
    settings.DEBUG = True  # as `make run` runs the demo
    settings.FIELD_ENCRYPTION_KEY = [FERNET_KEY]
    settings.ZILLOW_TOPIC_ARNS = [ZILLOW_TOPIC]
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.MARKETING_BACKEND = "integrations.marketing.mailchimp.MailchimpBackend"
    settings.MARKETING_PUSH_DELAY_SECONDS = 0


def zillow_envelope() -> tuple[bytes, bytes]:
    """A signed SNS notification and the certificate (PEM) that checks it."""
    key, pem = sns_signing_key()
    envelope = json.loads((FIXTURES / "zillow" / "notification__lead.json").read_bytes())
    names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    to_sign = "".join(f"{n}\n{envelope[n]}\n" for n in names if n in envelope).encode()
    digest = hashes.SHA256() if envelope["SignatureVersion"] == "2" else hashes.SHA1()  # noqa: S303
    envelope["Signature"] = base64.b64encode(key.sign(to_sign, padding.PKCS1v15(), digest)).decode()
    return json.dumps(envelope).encode(), pem


def test_the_whole_demo_path_at_debug_writes_no_secret_to_any_log(
    client, settings, monkeypatch, configured, debug_logs, beach, alice, run_queue
):
    team = Team.objects.get()
    web_form = WebForm.objects.create(public_key="sunrise-demo", name="Website", team=team)
    receiver = Receiver()
    receiver.thread.start()
    subscription = WebhookSubscription.objects.create(name="Office", url=receiver.url, team=team)
    api_token = api_token_create(user=alice.user, name="Open house tablet")[1]
    mailchimp = FakeMailchimp(api_key=SECRETS["MAILCHIMP_API_KEY"]).start()
    settings.MAILCHIMP_API_KEY = mailchimp.api_key
    settings.MAILCHIMP_AUDIENCE_ID = mailchimp.audience
    settings.MAILCHIMP_API_BASE_URL = mailchimp.url
    marketing_base._load.cache_clear()
    zillow_body, zillow_pem = zillow_envelope()
    real_request = http.request

    def outside(method: str, url: str, **kwargs) -> requests.Response:
        if url == ZILLOW_CERT_URL:  # Amazon's certificate; everything else goes out for real
            response = requests.Response()
            response.status_code, response._content = 200, zillow_pem
            return response
        return real_request(method, url, **kwargs)

    monkeypatch.setattr(http, "request", outside)
    try:
        with (
            twilio_server(ACCOUNT_SID, SECRETS["TWILIO_AUTH_TOKEN"]) as (twilio_url, twilio),
            GraphServer(SECRETS["FACEBOOK_APP_SECRET"]) as graph,
        ):
            settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
            settings.TWILIO_FROM_NUMBER = "+13055550000"
            settings.TWILIO_API_BASE_URL = twilio_url
            settings.FACEBOOK_GRAPH_API_URL = graph.url
            graph.state.tokens.add(PAGE_TOKEN)
            fb_lead = json.loads((FIXTURES / "facebook" / "lead__full.json").read_bytes())
            graph.state.objects[fb_lead["id"]] = fb_lead
            for name in ("form__disclaimer.json", "form__no_disclaimer.json"):
                form = json.loads((FIXTURES / "facebook" / name).read_bytes())
                graph.state.objects[form["id"]] = form
            page = FacebookPage(page_id=PAGE_ID, name="Sunrise", team=team)
            page.set_access_token(PAGE_TOKEN)
            page.save()

            answers = knock_on_every_door(client, web_form, zillow_body, api_token)
            run_queue()
            answers += refused_requests(client)
            answers.append(("metrics", client.get("/metrics", headers=bearer("METRICS_TOKEN"))))
    finally:
        mailchimp.stop()
        receiver.server.shutdown()
        receiver.server.server_close()
        marketing_base._load.cache_clear()

    statuses = {name: response.status_code for name, response in answers}
    assert statuses == {
        "webform": 201, "realtor": 200, "zillow": 200, "zillow_rentals": 200, "facebook": 200,
        "facebook_verify": 200, "api": 202, "twilio_inbound": 200, "mailchimp": 200,
        "rentals_wrong_token": 404, "mailchimp_wrong_method": 405, "facebook_wrong_verify": 403,
        "api_wrong_token": 401, "metrics": 200,
    }  # fmt: skip
    # The path really ran: leads from every source, an SMS, a Graph call, a Mailchimp push,
    # a webhook delivery.
    sources = set(Lead.objects.values_list("source", flat=True))
    assert {"webform", "realtor", "zillow", "zillow_rentals", "facebook", "api"} <= sources
    assert twilio.sent
    assert {where for where, _ in graph.state.tokens_by} == {"header"}
    assert mailchimp.members
    assert receiver.requests
    assert not InboundEvent.objects.filter(status="failed").exists()

    log = debug_logs.getvalue()
    mails = "\n".join(f"{m.subject}\n{m.body}" for m in mail.outbox)
    secrets = {
        **SECRETS,
        "ZILLOW_BASIC_AUTH password": SECRETS["ZILLOW_BASIC_AUTH"].split(":", 1)[1],
        "Facebook page token": PAGE_TOKEN,
        "FIELD_ENCRYPTION_KEY": FERNET_KEY,
        "API token": api_token,
        "webhook signing secret": subscription.secret,
        "webhook signing key": subscription.secret.removeprefix("whsec_"),
        "Twilio basic auth": base64.b64encode(
            f"{ACCOUNT_SID}:{SECRETS['TWILIO_AUTH_TOKEN']}".encode()
        ).decode(),
        "Mailchimp basic auth": base64.b64encode(
            f"leadline:{SECRETS['MAILCHIMP_API_KEY']}".encode()
        ).decode(),
    }
    leaked = {name for name, value in secrets.items() if value in log or value in mails}
    assert not leaked, f"in the logs: {sorted(leaked)}"
    # The log is the one we think: DEBUG lines from urllib3 with the Graph URL and Django's
    # warnings about the refused requests (with the path whose secret is redacted).
    assert "DEBUG urllib3.connectionpool" in log
    assert "/v25.0/" in log
    assert "WARNING django.request Not Found: /hooks/zillow-rentals/[redacted]/" in log
    assert "WARNING django.request Method Not Allowed: /hooks/mailchimp/[redacted]/" in log


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[name]}"}


def knock_on_every_door(
    client: Client, web_form: WebForm, zillow_body: bytes, api_token: str
) -> list[tuple[str, Any]]:
    submission = json.loads((FIXTURES / "webform" / "submission__json.json").read_bytes())
    fb_body = (FIXTURES / "facebook" / "leadgen__single.json").read_bytes()
    fb_signature = hmac.new(SECRETS["FACEBOOK_APP_SECRET"].encode(), fb_body, hashlib.sha256)
    basic = base64.b64encode(SECRETS["ZILLOW_BASIC_AUTH"].encode()).decode()
    verify = {
        "hub.mode": "subscribe",
        "hub.verify_token": SECRETS["FACEBOOK_VERIFY_TOKEN"],
        "hub.challenge": "1158201444",
    }
    return [
        ("webform", client.post(
            "/forms/sunrise-demo/", json.dumps({**submission, "_ts": render_token(web_form)}),
            content_type="application/json",
        )),
        ("realtor", client.post(
            "/hooks/realtor/", (FIXTURES / "realtor" / "lead__nested.json").read_bytes(),
            content_type="application/json", headers={"x-api-key": SECRETS["REALTOR_API_KEY"]},
        )),
        ("zillow", client.post(
            "/hooks/zillow/", zillow_body, content_type="text/plain; charset=UTF-8",
            headers={"x-amz-sns-message-type": "Notification", "Authorization": f"Basic {basic}"},
        )),
        ("zillow_rentals", client.post(
            f"/hooks/zillow-rentals/{SECRETS['ZILLOW_RENTALS_TOKEN']}/",
            (FIXTURES / "zillow_rentals" / "callback__full_profile.txt").read_bytes(),
            content_type="application/x-www-form-urlencoded; charset=utf-8",
        )),
        ("facebook_verify", client.get("/hooks/facebook/", verify)),
        ("facebook", client.post(
            "/hooks/facebook/", fb_body, content_type="application/json",
            headers={"X-Hub-Signature-256": "sha256=" + fb_signature.hexdigest()},
        )),
        ("api", client.post(
            "/api/v1/leads/", (FIXTURES / "api" / "lead__full.json").read_bytes(),
            content_type="application/json", headers={"Authorization": f"Bearer {api_token}"},
        )),
        ("twilio_inbound", _twilio_text(client)),
        ("mailchimp", client.post(
            f"/hooks/mailchimp/{SECRETS['MAILCHIMP_WEBHOOK_TOKEN']}/",
            (FIXTURES / "mailchimp" / "profile__name_changed.txt").read_bytes(),
            content_type="application/x-www-form-urlencoded",
        )),
    ]  # fmt: skip


def _twilio_text(client: Client) -> Any:
    agent = Agent.objects.get(user__username="alice")
    params = {
        "MessageSid": "SM" + "c" * 32, "AccountSid": ACCOUNT_SID, "From": agent.mobile_phone,
        "To": "+13055550000", "Body": "HELP", "NumMedia": "0",
    }  # fmt: skip
    token = SECRETS["TWILIO_AUTH_TOKEN"]
    signature = RequestValidator(token).compute_signature(
        "http://testserver/hooks/twilio/inbound/", params
    )
    return client.post("/hooks/twilio/inbound/", params, HTTP_X_TWILIO_SIGNATURE=signature)


def refused_requests(client: Client) -> list[tuple[str, Any]]:
    """Requests Django logs as warnings, each with a secret in its path or query."""
    wrong = {
        "hub.mode": "subscribe",
        "hub.verify_token": SECRETS["FACEBOOK_VERIFY_TOKEN"] + "x",
        "hub.challenge": "1",
    }
    return [
        ("rentals_wrong_token", client.post(
            f"/hooks/zillow-rentals/{SECRETS['ZILLOW_RENTALS_TOKEN']}x/", b"a=1",
            content_type="application/x-www-form-urlencoded",
        )),
        ("mailchimp_wrong_method", client.put(
            f"/hooks/mailchimp/{SECRETS['MAILCHIMP_WEBHOOK_TOKEN']}/", b"x"
        )),
        ("facebook_wrong_verify", client.get("/hooks/facebook/", wrong)),
        ("api_wrong_token", client.get(
            f"/api/v1/leads/?access_token={SECRETS['METRICS_TOKEN']}",
            headers={"Authorization": f"Bearer {SECRETS['METRICS_TOKEN']}"},
        )),
    ]  # fmt: skip
