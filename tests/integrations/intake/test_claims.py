"""Queue workers claim inbound events straight from their rows: disjoint claims, leases that
hand on a dead claimer's events, NOTIFY waking a waiting claimer, recovery from a terminated
connection, retries not taken early, and the polling path where nothing notifies."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.utils import timezone
from django_q.brokers import get_broker

from integrations.intake.claims import CHANNEL, events_claimer
from integrations.intake.models import InboundEvent, WebForm
from integrations.intake.services import (
    event_process,
    event_store,
    events_claim,
    events_release,
    events_replay,
)
from integrations.lib.claimer import Claimer
from leads.models import Lead

PAYLOAD = {"first_name": "Jordan", "email": "jordan@example.com", "zip_code": "33139"}


def store(web_form: WebForm, submission_id: str) -> InboundEvent:
    body = json.dumps({**PAYLOAD, "consent": True, "submission_id": submission_id})
    return event_store(
        source="webform",
        body=body.encode(),
        content_type="application/json",
        external_id=f"{web_form.public_key}:{submission_id}",
        meta={"form_id": web_form.pk, "received_at": timezone.now().isoformat()},
    ).event


def many(count: int) -> list[int]:
    """``count`` received events (bodies that fail to parse: cheap to process)."""
    InboundEvent.objects.bulk_create(
        InboundEvent(source="webform", body=b"{}", external_id=f"bulk-{n}") for n in range(count)
    )
    return sorted(InboundEvent.objects.values_list("pk", flat=True))


def eventually(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def status(event: InboundEvent) -> str:
    return InboundEvent.objects.values_list("status", flat=True).get(pk=event.pk)


@pytest.fixture
def claimers() -> Iterator[Callable[..., Claimer]]:
    """Start claimers; each is stopped, and its connections closed, after the test."""
    started: list[Claimer] = []

    def start(**options: object) -> Claimer:
        claimer = events_claimer(name=f"test claimer {len(started) + 1}")
        for name, value in options.items():
            setattr(claimer, name, value)
        claimer.start()
        started.append(claimer)
        return claimer

    yield start
    for claimer in started:
        claimer.stop()
    for claimer in started:
        claimer.join(claimer.poll + 10)
        assert not claimer.is_alive()


def listening() -> bool:
    """Whether a backend of this database waits on the claimers' channel."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE %s AND state = 'idle'",
            [f'LISTEN "{CHANNEL}"'],
        )
        return cursor.fetchone()[0] > 0


# --- The claim, on any database ----------------------------------------------------------------


@pytest.mark.django_db
class TestClaim:
    def test_a_claim_takes_due_events_oldest_first_and_holds_them(self, web_form):
        first, second = store(web_form, "claim-0001"), store(web_form, "claim-0002")
        InboundEvent.objects.filter(pk=second.pk).update(
            received_at=timezone.now() - dt.timedelta(seconds=5)
        )
        assert events_claim(limit=1) == [second.pk]
        assert events_claim(limit=5) == [first.pk]
        assert events_claim(limit=5) == []  # both held by their leases

    def test_an_event_whose_claimer_died_is_claimed_again_when_its_lease_runs_out(
        self, web_form, settings
    ):
        settings.EVENT_CLAIM_LEASE_SECONDS = 60
        event = store(web_form, "lease-0001")
        now = timezone.now()
        assert events_claim(limit=5, now=now) == [event.pk]  # and its claimer dies
        assert events_claim(limit=5, now=now + dt.timedelta(seconds=59)) == []
        assert events_claim(limit=5, now=now + dt.timedelta(seconds=61)) == [event.pk]

    def test_a_retry_is_not_claimed_before_its_time(self, web_form):
        event = store(web_form, "retry-0001")
        later = timezone.now() + dt.timedelta(seconds=30)
        InboundEvent.objects.filter(pk=event.pk).update(next_attempt_at=later)
        assert events_claim(limit=5) == []
        assert events_claim(limit=5, now=later - dt.timedelta(seconds=1)) == []
        assert events_claim(limit=5, now=later) == [event.pk]

    def test_a_failed_attempt_waits_before_the_next(self, web_form, monkeypatch, settings):
        event = store(web_form, "crash-0001")
        monkeypatch.setattr(
            "integrations.intake.services.lead_capture",
            lambda **kwargs: (_ for _ in ()).throw(RuntimeError("database went away")),
        )
        [claimed] = events_claim(limit=5)
        event_process(event_id=claimed)
        event.refresh_from_db()
        assert (event.status, event.attempts) == (InboundEvent.Status.RECEIVED, 1)
        assert event.last_attempt_at is not None
        assert event.claimed_until is not None
        wait = dt.timedelta(seconds=settings.EVENT_SWEEP_AFTER_SECONDS)
        assert event.claimed_until == event.last_attempt_at + wait
        assert events_claim(limit=5) == []  # not again at once
        assert events_claim(limit=5, now=event.claimed_until) == [event.pk]

    def test_an_inquiry_another_worker_captured_meanwhile_is_due_again_at_once(
        self, web_form, beach, alice, monkeypatch
    ):
        from leads.services import CaptureConflict, lead_capture

        event = store(web_form, "conflict-1")

        def captured_meanwhile(**kwargs):
            monkeypatch.setattr("integrations.intake.services.lead_capture", lead_capture)
            raise CaptureConflict("webform conflict-1 was captured meanwhile.")

        monkeypatch.setattr("integrations.intake.services.lead_capture", captured_meanwhile)
        [claimed] = events_claim(limit=5)
        event_process(event_id=claimed)
        event.refresh_from_db()
        assert (event.status, event.attempts, event.claimed_until) == ("received", 1, None)
        assert events_claim(limit=5) == [event.pk]  # no wait
        event_process(event_id=event.pk)
        assert status(event) == "processed"
        assert Lead.objects.get().assigned_agent == alice

    def test_processed_failed_and_ignored_events_are_never_claimed(self, web_form):
        events = [store(web_form, f"done-{n:04}") for n in range(3)]
        for event, final in zip(events, ["processed", "failed", "ignored"], strict=True):
            InboundEvent.objects.filter(pk=event.pk).update(status=final)
        assert events_claim(limit=5) == []

    def test_the_door_writes_the_event_row_and_nothing_else(
        self, web_form, django_assert_num_queries, django_capture_on_commit_callbacks
    ):
        # The INSERT, in a savepoint inside the test's transaction (BEGIN/COMMIT alone).
        with django_capture_on_commit_callbacks() as callbacks, django_assert_num_queries(3):
            store(web_form, "door-00001")
        assert callbacks == []  # no queue push after the commit
        assert get_broker().queue_size() == 0  # no queue row

    def test_a_task_queued_before_the_claimers_still_processes_its_event(
        self, web_form, beach, alice
    ):
        from django.utils.module_loading import import_string
        from django_q.signing import SignedPackage
        from django_q.tasks import async_task

        event = store(web_form, "legacy-001")
        async_task("integrations.intake.tasks.process_event", event.pk)  # as the door did
        broker = get_broker()
        [(ack_id, payload)] = broker.dequeue()
        task = SignedPackage.loads(payload)
        assert import_string(task["func"])(*task["args"]) == "processed"
        broker.acknowledge(ack_id)
        assert Lead.objects.get().assigned_agent == alice


@pytest.mark.django_db(transaction=True)
def test_at_the_door_storing_an_event_is_one_statement(web_form, django_assert_num_queries):
    with django_assert_num_queries(1):  # the INSERT, committed by itself: no BEGIN, no COMMIT
        first = store(web_form, "door-00002")
    with django_assert_num_queries(2):  # a duplicate: the refused INSERT, the first one read
        again = store(web_form, "door-00002")
    assert again.pk == first.pk
    assert InboundEvent.objects.count() == 1


# --- Claimer threads -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_claimer_polls_where_nothing_notifies(web_form, beach, alice, claimers):
    claimer = claimers(channel="", poll=0.1)  # as on SQLite
    event = store(web_form, "poll-00001")
    assert eventually(lambda: status(event) == "processed")
    assert Lead.objects.get().assigned_agent == alice
    assert claimer.claimed == 1


@pytest.mark.django_db(transaction=True)
def test_a_claimer_in_a_queue_worker_sends_the_first_alert_itself(
    web_form, beach, alice, claimers, queue_worker
):
    claimers(poll=0.1)
    store(web_form, "worker-001")
    assert eventually(lambda: len(mail.outbox) == 1)  # sent by the claimer after the commit
    assert mail.outbox[0].to == [alice.email]
    assert get_broker().queue_size() == 0  # not rung through the queue


@pytest.mark.django_db(transaction=True)
def test_a_stopping_claimer_hands_back_the_rest_of_its_batch(db, claimers):
    ids = many(5)
    stopped = threading.Event()

    def stop() -> None:
        claimer.stop()
        stopped.set()

    def process_then_stop(event_id: int) -> None:
        event_process(event_id=event_id)
        threading.Thread(target=stop).start()
        time.sleep(0.3)  # the stop is asked for while this event is in hand

    claimer = Claimer(
        name="stopping claimer",
        claim=lambda limit: events_claim(limit=limit),
        process=process_then_stop,
        release=lambda rest: events_release(ids=rest),
        batch=5,
        poll=0.1,
    )
    claimer.start()
    claimer.join(15)
    assert stopped.wait(15)  # stop() returned once the batch was handed back
    assert not claimer.is_alive()
    rows = dict(InboundEvent.objects.values_list("pk", "claimed_until"))
    statuses = dict(InboundEvent.objects.values_list("pk", "status"))
    assert statuses[ids[0]] == "failed"  # the one in hand was finished (an unreadable body)
    assert all(statuses[pk] == "received" and rows[pk] is None for pk in ids[1:])


# --- On PostgreSQL: SKIP LOCKED, NOTIFY, a terminated connection -------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_claimers_on_two_connections_get_disjoint_events(db):
    ids = many(300)
    taken: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def claim_all(key: str) -> None:
        try:
            barrier.wait()
            while batch := events_claim(limit=7):
                taken[key].extend(batch)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim_all, args=(key,)) for key in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not set(taken["a"]) & set(taken["b"])
    assert sorted(taken["a"] + taken["b"]) == sorted(ids)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_the_rows_another_claim_is_taking_without_waiting(db):
    many(10)
    with transaction.atomic():
        mine = events_claim(limit=4)  # its rows stay locked until this commits
        theirs: list[int] = []

        def other() -> None:
            try:
                theirs.extend(events_claim(limit=10))
            finally:
                connections.close_all()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(10)
        assert not thread.is_alive()  # it did not wait for the lock
    assert len(mine) == 4
    assert len(theirs) == 6
    assert not set(mine) & set(theirs)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_notify_from_the_insert_wakes_a_waiting_claimer(web_form, beach, alice, claimers):
    claimer = claimers(poll=60.0)  # only a notification can wake it within the test
    assert eventually(listening)
    time.sleep(0.2)  # past its first (empty) claim, waiting
    event = store(web_form, "notify-001")
    assert eventually(lambda: status(event) == "processed", seconds=10)
    assert claimer.claimed == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_replay_notifies_too(web_form, beach, alice, claimers):
    event = store(web_form, "replay-n01")
    InboundEvent.objects.filter(pk=event.pk).update(status="failed", error="a bad day")
    claimers(poll=60.0)
    assert eventually(listening)
    time.sleep(0.2)
    assert events_replay(events=[InboundEvent.objects.get(pk=event.pk)]) == 1
    assert eventually(lambda: status(event) == "processed", seconds=10)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claimer_recovers_after_its_connections_are_terminated(
    web_form, beach, alice, claimers, caplog
):
    caplog.set_level(logging.INFO, logger="integrations.lib.claimer")
    claimer = claimers(poll=60.0)
    assert eventually(listening)
    first = store(web_form, "before-001")
    assert eventually(lambda: status(first) == "processed")

    # PostgreSQL restarting, as far as the claimer can tell: every backend but ours ends.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert eventually(lambda: "trying again" in caplog.text, seconds=10)
    assert eventually(listening, seconds=20)  # it connected and listens again
    event = store(web_form, "after-0001")
    assert eventually(lambda: status(event) == "processed", seconds=10)
    assert claimer.is_alive()
    assert Lead.objects.count() == 2
