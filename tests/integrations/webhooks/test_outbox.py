"""No event is lost between a change and its deliveries: they are written in the change's own
transaction (an outbox), and the "are there any subscriptions?" answer costs no query."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers import get_broker

from integrations.intake.services import event_process, event_store, events_sweep
from integrations.webhooks import selectors
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription, events_start
from integrations.webhooks.services import webhooks_sweep
from leads.models import Lead

from .conftest import capture

ROOT = Path(__file__).resolve().parents[3]

# A process that captures a lead and is killed the moment the lead's transaction commits,
# before anything that runs after a commit can.
KILLED_AFTER_COMMIT = """
import os, signal, sys
import django
django.setup()
from django.db import transaction
from django.utils import timezone
from django_q.brokers import get_broker
from leads.data import LeadData
from leads.services import lead_capture

data = LeadData(
    source="webform", external_id="killed-after-commit", received_at=timezone.now(),
    team_id=int(sys.argv[1]), first_name="Kim", email="kim@example.com", property_zip="33139",
)
with transaction.atomic():
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
    lead_capture(data=data)
"""


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_process_killed_right_after_the_leads_commit_loses_no_event(
    subscription, receiver, beach, run_queue
):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.test_settings",
        "DATABASE_URL": _database_url(),
        "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
    }
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_COMMIT, str(subscription.team_id)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert child.returncode == -9, child.stderr
    assert Lead.objects.filter(external_id="killed-after-commit").exists()
    webhooks_sweep()  # the sweeper rings for deliveries whose task never reached the broker
    run_queue()
    assert sorted(receiver.events()) == ["lead.assigned", "lead.created", "person.created"]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def _failing_delivery_writes(execute, sql, params, many, context):
    if sql.lstrip().upper().startswith('INSERT INTO "INTEGRATIONS_WEBHOOKDELIVERY"'):
        raise OperationalError("server closed the connection unexpectedly")
    return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)
def test_a_database_error_writing_the_event_undoes_the_lead_and_the_retry_delivers_both(
    subscription, receiver, beach, web_form, run_queue
):
    body = {"first_name": "Ray", "email": "ray@example.com", "zip_code": "33139", "consent": True}
    event = event_store(
        source="webform",
        body=json.dumps(body).encode(),
        content_type="application/json",
        meta={"form_id": web_form.pk, "received_at": timezone.now().isoformat()},
    ).event
    get_broker().purge_queue()

    with connection.execute_wrapper(_failing_delivery_writes):
        event_process(event_id=event.pk)

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("received", 1), event.error
    assert "OperationalError" in event.error
    assert not Lead.objects.exists()  # the lead and its events stand or fall together

    later = timezone.now() + dt.timedelta(seconds=settings.EVENT_SWEEP_AFTER_SECONDS + 1)
    assert events_sweep(now=later) == 1
    run_queue()

    event.refresh_from_db()
    assert event.status == "processed"
    assert sorted(receiver.events()) == ["lead.assigned", "lead.created", "person.created"]


def _subscription_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "webhooksubscription" in q["sql"]]


def test_with_no_subscription_a_lead_costs_no_query_for_them(team, beach, settings):
    settings.WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS = 60
    selectors.subscriptions_forget()
    capture(team, email="first@example.com")  # learns there are none

    with CaptureQueriesContext(connection) as queries:
        capture(team, email="second@example.com")

    assert _subscription_queries(queries) == []
    assert Lead.objects.count() == 2


def test_a_subscription_made_by_another_process_gets_every_event_from_its_start(
    team, beach, receiver, run_queue, settings
):
    settings.WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS = 0.5
    selectors.subscriptions_forget()
    capture(team, email="before@example.com")  # this process now believes there are none
    # Another process (the admin's) adds one: this process is not told.
    start = events_start()
    WebhookSubscription.objects.bulk_create(
        [WebhookSubscription(name="Books", url=receiver.url, events_from=start)]
    )

    capture(team, email="early@example.com")  # before its start: not its event
    while timezone.now() <= start:
        time.sleep(0.05)
    capture(team, email="from-start@example.com")
    run_queue()

    created = [p["data"] for p in receiver.payloads() if p["type"] == "lead.created"]
    assert [c["lead"]["contact"]["email"] for c in created] == ["from-start@example.com"]


def test_a_subscription_saved_here_receives_the_next_change_at_once(
    team, beach, receiver, run_queue, settings
):
    settings.WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS = 60
    selectors.subscriptions_forget()
    capture(team, email="before@example.com")
    settings.WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS = 0  # a subscription that starts at once
    WebhookSubscription.objects.create(name="Books", url=receiver.url, events=["lead.created"])

    capture(team, email="after@example.com")
    run_queue()

    assert receiver.events() == ["lead.created"]
