"""With Redis down, every door still stores the request and acknowledges it.

Redis is the cache and the queue's broker; neither may stand between a sender and its answer
(the row is the truth, the queue only a doorbell). Here the real Redis client is pointed at a
port where nobody listens (and, for the web form, at one that accepts and never answers);
each door must answer as usual, with the raw event stored; no door rings Redis (each stored
event is its own doorbell, taken from its row by the workers' claimers), so each becomes its
lead.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.test import Client
from django_q.conf import Conf
from twilio.request_validator import RequestValidator

from integrations.intake.models import InboundEvent, WebForm
from integrations.intake.sources.webform import render_token
from integrations.lib import http
from leads.models import Agent, Lead
from leads.services import api_token_create
from tests.integrations.sns import sns_signing_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
REALTOR_KEY = "rdc-test-key-5f1c0a"
RENTALS_TOKEN = "zr-7Qm2xV9kP4sL8nB3"
MAILCHIMP_TOKEN = "hook-secret-0123456789abcdef"
FACEBOOK_SECRET = "facebook-app-secret-for-tests"
TWILIO_TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
ZILLOW_CREDENTIALS = "zillow:s3cret-Basic-pass"
ZILLOW_TOPIC = "arn:aws:sns:us-east-1:324733501228:zillow-tech-connect-leadline"
ZILLOW_CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/"
    "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
)

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit rings the broker for real


def fixture(source: str, name: str) -> bytes:
    return (FIXTURES / source / name).read_bytes()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis_at(url: str, settings, monkeypatch) -> Iterator[None]:
    """The cache, the API's rate counters and the queue's broker all on the Redis at ``url``."""
    with monkeypatch.context() as patch:
        cache = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
        saved = (settings.REDIS_URL, settings.CACHES, settings.Q_CLUSTER)
        settings.REDIS_URL = url
        settings.CACHES = {"default": cache, "throttle": cache}
        broker = f"{url}?socket_connect_timeout=1&socket_timeout=3"
        settings.Q_CLUSTER = {k: v for k, v in settings.Q_CLUSTER.items() if k != "orm"}
        settings.Q_CLUSTER["redis"] = broker
        patch.setattr(Conf, "ORM", None)
        patch.setattr(Conf, "REDIS", broker)
        try:
            yield
        finally:
            settings.REDIS_URL, settings.CACHES, settings.Q_CLUSTER = saved


# --- How each door is knocked on, as its sender does ------------------------------------------


def webform(client: Client, web_form: WebForm) -> tuple[int, str]:
    body = {
        **json.loads(fixture("webform", "submission__json.json")),
        "_ts": render_token(web_form),
    }
    response = client.post(
        f"/forms/{web_form.public_key}/", json.dumps(body), content_type="application/json"
    )
    return response.status_code, "webform"


def realtor(client: Client) -> tuple[int, str]:
    response = client.post(
        "/hooks/realtor/",
        fixture("realtor", "lead__nested.json"),
        content_type="application/json",
        headers={"x-api-key": REALTOR_KEY},
    )
    return response.status_code, "realtor"


def zillow(client: Client, signing_key: rsa.RSAPrivateKey) -> tuple[int, str]:
    envelope = json.loads(fixture("zillow", "notification__lead.json"))
    names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    to_sign = "".join(f"{n}\n{envelope[n]}\n" for n in names if n in envelope).encode()
    digest = hashes.SHA256() if envelope["SignatureVersion"] == "2" else hashes.SHA1()  # noqa: S303
    signature = signing_key.sign(to_sign, padding.PKCS1v15(), digest)
    envelope["Signature"] = base64.b64encode(signature).decode()
    basic = base64.b64encode(ZILLOW_CREDENTIALS.encode()).decode()
    response = client.post(
        "/hooks/zillow/",
        json.dumps(envelope),
        content_type="text/plain; charset=UTF-8",
        headers={"x-amz-sns-message-type": "Notification", "Authorization": f"Basic {basic}"},
    )
    return response.status_code, "zillow"


def zillow_rentals(client: Client) -> tuple[int, str]:
    response = client.post(
        f"/hooks/zillow-rentals/{RENTALS_TOKEN}/",
        fixture("zillow_rentals", "callback__full_profile.txt"),
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )
    return response.status_code, "zillow_rentals"


def facebook(client: Client) -> tuple[int, str]:
    body = fixture("facebook", "leadgen__single.json")
    signature = "sha256=" + hmac.new(FACEBOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        "/hooks/facebook/",
        body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )
    return response.status_code, "facebook"


def mailchimp(client: Client) -> tuple[int, str]:
    response = client.post(
        f"/hooks/mailchimp/{MAILCHIMP_TOKEN}/",
        fixture("mailchimp", "unsubscribe__manual.txt"),
        content_type="application/x-www-form-urlencoded",
    )
    return response.status_code, "mailchimp"


def twilio(client: Client, path: str, params: dict[str, str]) -> int:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature("http://testserver" + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code


def twilio_status(client: Client) -> tuple[int, str]:
    params = {
        "MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "SmsStatus": "delivered",
        "AccountSid": "AC" + "0" * 32, "From": "+13055550000", "To": "+13055550100",
    }  # fmt: skip
    return twilio(client, "/hooks/twilio/status/", params), "twilio_status"


def twilio_inbound(client: Client, agent: Agent) -> tuple[int, str]:
    params = {
        "MessageSid": "SM" + "b" * 32, "AccountSid": "AC" + "0" * 32,
        "From": agent.mobile_phone, "To": "+13055550000", "Body": "HELP", "NumMedia": "0",
    }  # fmt: skip
    return twilio(client, "/hooks/twilio/inbound/", params), "twilio_sms"


def api_lead(client: Client, agent: Agent) -> tuple[int, str]:
    token = api_token_create(user=agent.user, name="Open house tablet")[1]
    response = client.post(
        "/api/v1/leads/",
        fixture("api", "lead__full.json"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "redis-down-1"},
    )
    return response.status_code, "api"


# --- The outage ------------------------------------------------------------------------------


@pytest.fixture
def sources_on(settings, monkeypatch) -> rsa.RSAPrivateKey:
    """Every source configured; Amazon's certificate served through the outbound HTTP seam."""
    settings.REALTOR_API_KEY = REALTOR_KEY
    settings.ZILLOW_RENTALS_TOKEN = RENTALS_TOKEN
    settings.ZILLOW_BASIC_AUTH = ZILLOW_CREDENTIALS
    settings.ZILLOW_TOPIC_ARNS = [ZILLOW_TOPIC]
    settings.FACEBOOK_APP_SECRET = FACEBOOK_SECRET
    settings.FACEBOOK_VERIFY_TOKEN = "verify-token-for-tests"
    settings.MAILCHIMP_WEBHOOK_TOKEN = MAILCHIMP_TOKEN
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    key, pem = sns_signing_key()

    def amazon(method: str, url: str, **kwargs) -> requests.Response:
        assert (method, url) == ("GET", ZILLOW_CERT_URL)
        response = requests.Response()
        response.status_code, response._content = 200, pem
        return response

    monkeypatch.setattr(http, "request", amazon)
    return key


def test_every_door_stores_and_acknowledges_with_redis_down_and_nothing_is_lost(
    client, settings, monkeypatch, caplog, sources_on, web_form, beach, alice, run_queue
):
    doors: list[Callable[[], tuple[int, str]]] = [
        lambda: webform(client, web_form),
        lambda: realtor(client),
        lambda: zillow(client, sources_on),
        lambda: zillow_rentals(client),
        lambda: facebook(client),
        lambda: mailchimp(client),
        lambda: twilio_status(client),
        lambda: twilio_inbound(client, alice),
        lambda: api_lead(client, alice),
    ]
    caplog.set_level(logging.WARNING)
    with redis_at(f"redis://127.0.0.1:{closed_port()}/0", settings, monkeypatch):
        answers = {source: status for status, source in (door() for door in doors)}

    assert answers == {
        "webform": 201, "realtor": 200, "zillow": 200, "zillow_rentals": 200, "facebook": 200,
        "mailchimp": 200, "twilio_status": 204, "twilio_sms": 200, "api": 202,
    }  # fmt: skip
    stored = {e.source: e for e in InboundEvent.objects.all()}
    assert set(stored) == set(answers)
    # Redis really was in the way: the cache and every doorbell failed, and were logged.
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("cache unavailable (count webform-rate:") for m in messages)
    assert any(m.startswith("cache unavailable (get sns-cert:") for m in messages)
    assert any(m.startswith("rate limit counter unavailable for token:") for m in messages)
    assert not [m for m in messages if m.startswith("could not enqueue")]  # no door rang it
    assert not Lead.objects.exists()

    # The workers' claimers take each event from its row, Redis or not: seven to process
    # (Twilio's callbacks are applied at once).
    assert run_queue() >= 7
    assert not InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).exists()
    by_source = {e.source: e.status for e in InboundEvent.objects.all()}
    assert by_source["webform"] == by_source["realtor"] == by_source["zillow"] == "processed"
    assert by_source["zillow_rentals"] == by_source["api"] == "processed"
    assert Lead.objects.filter(source__in=["webform", "realtor", "zillow", "api"]).count() == 4


def test_a_redis_that_hangs_holds_a_submission_for_its_timeouts_only(
    client, settings, monkeypatch, web_form
):
    """A Redis that accepts connections and never answers: the web form still answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        with redis_at(url, settings, monkeypatch):
            started = time.monotonic()
            status, _ = webform(client, web_form)
            took = time.monotonic() - started

    assert status == 201
    assert InboundEvent.objects.filter(source="webform").count() == 1
    assert took < 6  # the cache's 1 s and the broker's 3 s, not a hung worker
