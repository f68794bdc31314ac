"""Operations' view: /readyz for the load balancer, /healthz and /metrics for the monitor.

A stalled pipeline (every worker dead) still answers senders; these say so: the oldest event
waiting to be processed and the oldest alert or webhook delivery past its time.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from integrations.alerts.models import AgentAlert
from integrations.intake.models import InboundEvent
from integrations.intake.services import event_store
from integrations.lib.queue import enqueue_on_commit
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from leads.data import LeadData
from leads.models import Lead
from leads.services import lead_capture

pytestmark = pytest.mark.django_db
METRICS_TOKEN = "metrics-token-0123456789abcdef"


def broker_down(monkeypatch) -> None:
    def unreachable():
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.brokers.get_broker", unreachable)


def event(source: str = "webform", waited: float = 0, **fields) -> InboundEvent:
    """An event stored ``waited`` seconds ago, not processed (no worker claimed it)."""
    stored = event_store(source=source, body=b"{}", content_type="application/json").event
    received = timezone.now() - dt.timedelta(seconds=waited)
    InboundEvent.objects.filter(pk=stored.pk).update(received_at=received, **fields)
    return stored


def lead(n: int = 1, source: str = "webform") -> Lead:
    data = LeadData(
        source=source, external_id=f"health-{n}", received_at=timezone.now(),
        first_name="Jane", email=f"jane{n}@example.net", property_zip="33139",
    )  # fmt: skip
    return lead_capture(data=data).lead


# --- /healthz and /readyz ---------------------------------------------------------------------


def test_healthz_reports_the_database_the_queue_and_a_pipeline_that_keeps_up(client):
    event(waited=5)

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["checks"] == {"database": "ok", "queue": "ok", "pipeline": "ok"}
    assert body["status"] == "ok"
    assert 5 <= body["oldest_wait_seconds"]["inbound_event"] < 60
    assert body["oldest_wait_seconds"]["agent_alert"] is None
    assert body["oldest_wait_seconds"]["webhook_delivery"] is None
    assert body["max_wait_seconds"] == 300
    assert body["warnings"] == []  # no fault stops a channel sending


def test_healthz_is_503_when_the_queue_cannot_be_reached(client, monkeypatch):
    broker_down(monkeypatch)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["queue"] == "error: ConnectionError"
    assert response.json()["checks"]["database"] == "ok"


def test_healthz_is_503_when_events_wait_past_the_limit_with_every_worker_dead(client):
    event(waited=10)
    event(waited=301, source="realtor")

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["pipeline"] == "error: inbound_event waiting 301 s (limit 300 s)"
    assert body["checks"]["queue"] == "ok"  # the broker answers; nobody takes the tasks


def test_the_limit_is_a_setting(client, settings):
    event(waited=301)
    settings.HEALTHZ_MAX_WAIT_SECONDS = 3600
    assert client.get("/healthz").status_code == 200
    settings.HEALTHZ_MAX_WAIT_SECONDS = 60
    assert client.get("/healthz").status_code == 503


def test_an_event_a_source_asked_to_retry_later_is_not_late_and_a_processed_one_not_waiting(
    client,
):
    later = timezone.now() + dt.timedelta(minutes=10)
    event(waited=900, next_attempt_at=later)
    event(waited=900, status=InboundEvent.Status.PROCESSED)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["oldest_wait_seconds"]["inbound_event"] is None


def test_an_alert_past_its_time_fails_the_pipeline(client, beach, alice):
    now = timezone.now()
    AgentAlert.objects.create(
        lead=lead(), agent=alice, channel="sms", kind=AgentAlert.Kind.ASSIGNED,
        next_attempt_at=now - dt.timedelta(seconds=400),
    )  # fmt: skip
    quiet = AgentAlert.objects.create(  # quiet hours: due tomorrow morning, not late
        lead=lead(2), agent=alice, channel="email", kind=AgentAlert.Kind.ASSIGNED,
        next_attempt_at=now + dt.timedelta(hours=8),
    )  # fmt: skip

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["pipeline"].startswith("error: agent_alert waiting 40")
    AgentAlert.objects.exclude(pk=quiet.pk).update(status=AgentAlert.Status.SENT)
    assert client.get("/healthz").status_code == 200


def test_a_webhook_delivery_past_its_time_fails_the_pipeline(client, team):
    subscription = WebhookSubscription.objects.create(
        name="CRM", url="https://crm.example/hooks", team=team
    )
    now = timezone.now()
    WebhookDelivery.objects.create(
        subscription=subscription, message_id="msg_1", event_type="lead.created", payload="{}",
        next_attempt_at=now - dt.timedelta(seconds=600), retry_until=now + dt.timedelta(days=1),
    )  # fmt: skip

    response = client.get("/healthz")

    assert response.status_code == 503
    assert "webhook_delivery waiting 600 s" in response.json()["checks"]["pipeline"]
    subscription.is_active = False  # a disabled subscription's deliveries wait on purpose
    subscription.save()
    assert client.get("/healthz").status_code == 200


def test_readyz_needs_only_the_database(client, monkeypatch):
    """The load balancer's check: a request is stored and answered without Redis or workers."""
    broker_down(monkeypatch)
    event(waited=3600)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


# --- /metrics ---------------------------------------------------------------------------------

SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of Prometheus' text format, checking each line's shape on the way."""
    samples = {}
    declared = set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            declared.add(line.split()[2])
            continue
        match = SAMPLE.match(line)
        assert match, line
        assert match["name"] in declared, line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        samples[(match["name"], labels)] = float(match["value"])
    return samples


def sample(samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def metrics_token(settings) -> str:
    settings.METRICS_TOKEN = METRICS_TOKEN
    return METRICS_TOKEN


def test_metrics_tell_queue_depth_waits_events_deliveries_and_leads(
    client, metrics_token, beach, alice, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # Redis is rung after the commit
        event(waited=120)
        event(source="realtor", waited=30)
        event(source="realtor", status=InboundEvent.Status.FAILED)
        enqueue_on_commit("integrations.intake.tasks.sweep_events")  # a task no worker ran
    first = lead(1)
    lead(2, source="zillow")
    lead(3, source="zillow")
    AgentAlert.objects.create(
        lead=first, agent=alice, channel="sms", kind=AgentAlert.Kind.ASSIGNED,
        status=AgentAlert.Status.DELIVERED,
    )  # fmt: skip
    subscription = WebhookSubscription.objects.create(
        name="CRM", url="https://crm.example/hooks", team=team
    )
    now = timezone.now()
    for n, status in enumerate(["pending", "failed", "failed"]):
        WebhookDelivery.objects.create(
            subscription=subscription, message_id=f"msg_{n}", event_type="lead.created",
            payload="{}", status=status, next_attempt_at=now + dt.timedelta(minutes=5),
            retry_until=now + dt.timedelta(days=1),
        )  # fmt: skip

    response = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = scrape(response.content.decode())
    assert sample(samples, "leadline_up") == 1
    assert sample(samples, "leadline_queue_up") == 1
    # The task waits in the broker (no worker runs here); the stored events are no tasks: the
    # workers claim them from their rows.
    assert sample(samples, "leadline_queue_depth") == 1
    assert 120 <= sample(samples, "leadline_oldest_wait_seconds", kind="inbound_event") < 180
    assert sample(samples, "leadline_oldest_wait_seconds", kind="webhook_delivery") == 0
    assert sample(samples, "leadline_inbound_events", source="webform", status="received") == 1
    assert sample(samples, "leadline_inbound_events", source="realtor", status="received") == 1
    assert sample(samples, "leadline_inbound_events", source="realtor", status="failed") == 1
    assert sample(samples, "leadline_agent_alerts", channel="sms", status="delivered") == 1
    assert sample(samples, "leadline_webhook_deliveries", status="pending") == 1
    assert sample(samples, "leadline_webhook_deliveries", status="failed") == 2
    assert sample(samples, "leadline_leads", source="webform") == 1
    assert sample(samples, "leadline_leads", source="zillow") == 2


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x", "Bearer "],
)
def test_metrics_need_the_token(client, metrics_token, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"leadline_" not in response.content


def test_without_a_token_configured_no_bearer_opens_metrics(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_staff_signed_in_read_metrics_and_agents_do_not(client, alice):
    client.force_login(alice.user)
    assert client.get("/metrics").status_code == 401
    staff = get_user_model().objects.create_user("ops", "ops@example.com", "x" * 16, is_staff=True)
    client.force_login(staff)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "leadline_queue_depth" in response.content.decode()
