"""Capture under real concurrency, on PostgreSQL: two captures of one person, or of one
inquiry, at the same moment, each in a transaction of its own (as two queue workers are).

The first capture holds its transaction open until the second is seen waiting on its rows;
then it commits, and the second goes on. Whatever the order, a person is one contact and an
inquiry one lead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from leads.data import LeadData
from leads.models import Contact, ContactEmail, Lead
from leads.services import CaptureConflict, CaptureResult, lead_capture

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def inquiry(external_id: str, **fields: Any) -> LeadData:
    return LeadData(
        source="webform", external_id=external_id, received_at=timezone.now(),
        first_name="Jordan", email="jordan@example.com", phone="+13055550188",
        property_zip="33139", **fields,
    )  # fmt: skip


def waiting_on_a_lock() -> bool:
    """Whether a session of this database waits on a lock (read afresh: the statistics views
    are otherwise read once per transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(cursor.fetchone()[0])


def side_by_side(first: LeadData, second: LeadData) -> tuple[CaptureResult, Future[Any]]:
    """Capture ``first`` in a transaction left open until the capture of ``second`` (in a
    transaction of its own, as a queue worker's) waits on it; then commit the first."""
    captured = threading.Event()
    result: dict[str, CaptureResult] = {}

    def in_a_worker(data: LeadData, before_commit: Callable[[], None] | None) -> Any:
        try:
            with transaction.atomic():
                got = lead_capture(data=data)
                if before_commit is not None:
                    before_commit()
                return got
        finally:
            connections.close_all()

    def hold() -> None:
        captured.set()
        deadline = time.monotonic() + 10
        while not waiting_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.02)

    with ThreadPoolExecutor(max_workers=2) as pool:
        one = pool.submit(in_a_worker, first, hold)
        captured.wait(10)
        two = pool.submit(in_a_worker, second, None)
        result["first"] = one.result(20)
        two.exception(20)
    return result["first"], two


def test_one_person_writing_twice_at_the_same_moment_is_one_contact(team):
    first, second = side_by_side(inquiry("form-1"), inquiry("form-2"))
    assert first.created
    assert second.result().created
    assert Contact.objects.count() == 1
    assert ContactEmail.objects.get().contact_id == first.lead.contact_id
    assert second.result().lead.contact_id == first.lead.contact_id
    assert Lead.objects.count() == 2


def test_one_inquiry_twice_at_the_same_moment_is_one_lead(team):
    first, second = side_by_side(inquiry("form-1"), inquiry("form-1"))
    # Inside a worker's transaction the second is rolled back whole, to be processed again.
    assert isinstance(second.exception(), CaptureConflict)
    assert Lead.objects.count() == 1
    assert Contact.objects.count() == 1
    assert lead_capture(data=inquiry("form-1")).lead == first.lead  # and again, it finds it


def test_many_captures_of_one_inquiry_on_their_own_give_one_lead(team):
    barrier = threading.Barrier(6)

    def capture(n: int) -> tuple[int, bool]:
        try:
            barrier.wait()
            got = lead_capture(data=inquiry("burst"))
            return got.lead.pk, got.created
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(capture, range(6)))
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Contact.objects.count() == 1
