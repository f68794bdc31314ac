"""The raw-first pipeline: store, process, sweep, replay; and nothing is ever lost or doubled."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from django_q.brokers import get_broker

from integrations.intake.models import InboundEvent, WebForm
from integrations.intake.services import (
    event_process,
    event_store,
    events_claim,
    events_replay,
    events_sweep,
)
from integrations.intake.sources.webform import render_token
from leads.models import Lead

ROOT = Path(__file__).resolve().parents[3]
PAYLOAD = {
    "first_name": "Jordan",
    "email": "jordan@example.com",
    "zip_code": "33139",
    "consent": True,
}


def store_submission(web_form: WebForm, submission_id: str = "", **fields) -> InboundEvent:
    body = json.dumps(
        {**PAYLOAD, **fields, "submission_id": submission_id}
        if submission_id
        else {**PAYLOAD, **fields}
    )
    return event_store(
        source="webform",
        body=body.encode(),
        content_type="application/json",
        external_id=f"{web_form.public_key}:{submission_id}" if submission_id else "",
        meta={"form_id": web_form.pk, "received_at": timezone.now().isoformat()},
    ).event


@pytest.mark.django_db
class TestProcessing:
    def test_processing_twice_makes_one_lead(self, web_form):
        event = store_submission(web_form, "twice-0001")
        event_process(event_id=event.pk)
        event.status = InboundEvent.Status.RECEIVED  # as if a second worker got it anyway
        event.save()
        event_process(event_id=event.pk)
        assert Lead.objects.count() == 1
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.PROCESSED

    def test_a_processed_event_is_left_alone(self, web_form):
        event = store_submission(web_form, "done-00001")
        event_process(event_id=event.pk)
        event.refresh_from_db()
        attempts = event.attempts
        event_process(event_id=event.pk)
        event.refresh_from_db()
        assert event.attempts == attempts

    def test_an_unreadable_event_is_marked_failed_with_the_reason(self, web_form):
        event = store_submission(web_form, "bad-zip-01", zip_code="ABCDE")
        event_process(event_id=event.pk)
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.FAILED
        assert "zip_code" in event.error
        assert not Lead.objects.exists()

    def test_an_event_whose_form_was_deleted_fails_visibly(self, web_form, team):
        event = store_submission(web_form, "orphan-001")
        event.meta = {"form_id": 999999}
        event.save()
        event_process(event_id=event.pk)
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.FAILED
        assert "999999" in event.error

    def test_an_unexpected_error_is_recorded_and_left_for_the_sweeper(self, web_form, monkeypatch):
        event = store_submission(web_form, "crash-0001")

        def explode(**kwargs):
            raise RuntimeError("database went away")

        monkeypatch.setattr("integrations.intake.services.lead_capture", explode)
        event_process(event_id=event.pk)
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.RECEIVED
        assert event.attempts == 1
        assert "database went away" in event.error

    def test_after_the_last_attempt_the_event_fails_and_waits_for_an_operator(
        self, web_form, monkeypatch, settings
    ):
        settings.EVENT_MAX_ATTEMPTS = 2
        event = store_submission(web_form, "crash-0002")
        monkeypatch.setattr(
            "integrations.intake.services.lead_capture",
            lambda **kwargs: (_ for _ in ()).throw(RuntimeError("still down")),
        )
        event_process(event_id=event.pk)
        event_process(event_id=event.pk)
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.FAILED
        assert event.attempts == 2

    def test_a_missing_event_is_not_an_error(self, db):
        assert event_process(event_id=123456) is None


@pytest.mark.django_db
class TestSweepAndReplay:
    def test_an_event_no_claimer_took_is_processed_by_the_sweeper(
        self, web_form, beach, alice, run_queue
    ):
        # Every worker's claimer stopped: the event is stored and the sender answered.
        event = store_submission(web_form, "lost-00001")
        assert events_sweep() == 0  # not yet past its deadline

        later = timezone.now() + dt.timedelta(seconds=settings.EVENT_SWEEP_AFTER_SECONDS + 1)
        assert events_sweep(now=later) == 1
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.PROCESSED
        assert Lead.objects.get().assigned_agent == alice
        assert run_queue() == 1  # the email alert to Alice it led to

    def test_the_sweeper_processes_an_event_once(self, web_form):
        store_submission(web_form, "wait-00001")
        get_broker().purge_queue()  # the broker emptied: nothing of the event was there
        later = timezone.now() + dt.timedelta(seconds=settings.EVENT_SWEEP_AFTER_SECONDS + 1)
        assert events_sweep(now=later) == 1
        assert events_sweep(now=later + dt.timedelta(seconds=1)) == 0

    def test_the_sweeper_leaves_an_event_to_the_claimer_holding_it_until_its_lease_ends(
        self, web_form, settings
    ):
        settings.EVENT_CLAIM_LEASE_SECONDS = 300
        event = store_submission(web_form, "held-00001")
        now = timezone.now()
        assert events_claim(limit=5, now=now) == [event.pk]  # a claimer has it in hand
        past_deadline = now + dt.timedelta(seconds=settings.EVENT_SWEEP_AFTER_SECONDS + 1)
        assert events_sweep(now=past_deadline) == 0
        # The claimer died with it: its lease runs out and the sweep processes it.
        assert events_sweep(now=now + dt.timedelta(seconds=301)) == 1
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.PROCESSED

    def test_the_sweeper_ignores_finished_events(self, web_form, run_queue):
        store_submission(web_form, "finished-1")
        run_queue()
        later = timezone.now() + dt.timedelta(hours=1)
        assert events_sweep(now=later) == 0

    def test_replaying_a_failed_event_processes_it_again(self, web_form, run_queue, monkeypatch):
        event = store_submission(web_form, "replay-001")
        monkeypatch.setattr(
            "integrations.intake.services.lead_capture",
            lambda **kwargs: (_ for _ in ()).throw(RuntimeError("down")),
        )
        event.status = InboundEvent.Status.FAILED
        event.save()
        monkeypatch.undo()
        assert events_replay(events=[event]) == 1
        assert run_queue() >= 1
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.PROCESSED
        assert Lead.objects.count() == 1

    def test_replaying_a_processed_event_changes_nothing(self, web_form, run_queue):
        event = store_submission(web_form, "replay-002")
        run_queue()
        event.refresh_from_db()
        assert events_replay(events=[event]) == 0
        assert run_queue() == 0
        assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_the_sweeper_and_the_escalation_are_scheduled_after_migrate():
    from django_q.models import Schedule

    schedules = dict(Schedule.objects.values_list("func", "repeats"))
    assert schedules["integrations.intake.tasks.sweep_events"] == -1
    assert schedules["leads.tasks.escalate_overdue"] == -1


# --- Concurrency, on PostgreSQL ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_simultaneous_posts_of_one_submission_make_one_lead(web_form, run_queue):
    token = render_token(web_form)
    body = json.dumps({**PAYLOAD, "submission_id": "same-submission-01", "_ts": token})
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def post() -> None:
        try:
            client = Client()
            barrier.wait()
            statuses.append(
                client.post(
                    f"/forms/{web_form.public_key}/", body, content_type="application/json"
                ).status_code
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * 9 + [201]
    assert InboundEvent.objects.count() == 1
    run_queue()
    assert Lead.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_person_writing_through_two_forms_at_once_is_one_contact(web_form, team, run_queue):
    from leads.models import Contact

    other = WebForm.objects.create(public_key="second-form", name="Second", team=team)
    events = [store_submission(web_form, "person-0001"), store_submission(other, "person-0002")]
    barrier = threading.Barrier(2)

    def process(event_id: int) -> None:
        try:
            barrier.wait()
            event_process(event_id=event_id)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=process, args=(e.pk,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Lead.objects.count() == 2
    assert Contact.objects.count() == 1
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


# --- A real worker ----------------------------------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_loses_nothing(web_form, beach, alice):
    """A worker is killed with the event in hand; when its lease runs out, the claimer of a
    worker that django-q2 started (on ``post_spawn``) takes it."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.test_settings",
        "DATABASE_URL": _database_url(),
        "Q_POLL": "0.05",
        "EVENT_CLAIMER": "true",
        "EVENT_CLAIM_POLL_SECONDS": "0.1",
    }
    event = store_submission(web_form, "killed-0001")
    # Claimed by a worker that was killed before it could finish: its lease holds it.
    assert events_claim(limit=5) == [event.pk]

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(3.0)
        assert not Lead.objects.exists()  # the lease is another worker's

        # Its lease runs out (moved back here rather than waited for).
        InboundEvent.objects.filter(pk=event.pk).update(claimed_until=timezone.now())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not Lead.objects.exists():
            time.sleep(0.1)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(5)

    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PROCESSED
    assert Lead.objects.get().assigned_agent == alice
