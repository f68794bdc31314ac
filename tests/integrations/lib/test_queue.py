"""The queue seam: rows first, the task after the commit; a worker's follow-ups run in it."""

from __future__ import annotations

import pytest
from django.db import transaction

from integrations.lib import queue

pytestmark = pytest.mark.django_db(transaction=True)

RAN: list[int] = []


def follow_up(number: int) -> None:
    RAN.append(number)


TASK = "tests.integrations.lib.test_queue.follow_up"


@pytest.fixture(autouse=True)
def _forget() -> None:
    RAN.clear()


def test_django_q_starting_a_worker_marks_the_process_as_one(queue_worker):
    assert queue.in_worker()


def test_a_worker_runs_its_follow_up_itself_after_the_commit(queue_worker, run_queue):
    with transaction.atomic():
        queue.enqueue_on_commit(TASK, 7, here_if_worker=True)
        assert RAN == []  # not before the commit
    assert RAN == [7]
    assert run_queue() == 0  # nothing went through the broker


def test_outside_a_worker_the_follow_up_goes_through_the_broker(run_queue):
    assert not queue.in_worker()
    with transaction.atomic():
        queue.enqueue_on_commit(TASK, 8, here_if_worker=True)
    assert RAN == []
    assert run_queue() == 1
    assert RAN == [8]


def test_a_worker_rings_the_broker_unless_the_caller_asks_for_here(queue_worker, run_queue):
    with transaction.atomic():
        queue.enqueue_on_commit(TASK, 9)
    assert RAN == []
    assert run_queue() == 1
    assert RAN == [9]


def test_a_follow_up_that_fails_in_the_worker_is_logged_not_raised(queue_worker, caplog):
    with transaction.atomic():
        queue.enqueue_on_commit("tests.integrations.lib.test_queue.missing", 1, here_if_worker=True)
    assert "failed in this worker; the sweeper will retry" in caplog.text
