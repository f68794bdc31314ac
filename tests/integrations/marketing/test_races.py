"""Two pushes at once: against the fake Mailchimp, with real threads and real rows.

The first pushes after workers start may both create the audience's missing merge fields
(the second is told "already exists"), and a contact may change while its push is on the
wire. Neither may mark a contact refused, nor let two pushes of one contact overlap.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from integrations.marketing import services
from integrations.marketing.mailchimp import MailchimpBackend
from integrations.marketing.models import SyncState
from integrations.marketing.services import marketing_mark, marketing_push
from leads.data import ConsentData, LeadData
from leads.models import Activity, Lead
from leads.services import lead_capture

pytestmark = pytest.mark.django_db(transaction=True)  # each thread commits on its own


def capture(team, email: str) -> Lead:
    now = timezone.now()
    data = LeadData(
        source="webform", external_id=f"race-{email}", received_at=now, team_id=team.pk,
        first_name="Dana", email=email, property_zip="33139",
        consents=(ConsentData("marketing_email", True, "Send me new listings.", now),),
    )  # fmt: skip
    return lead_capture(data=data).lead


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    results: list[object] = []

    def run() -> None:
        try:
            results.append(target())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


def test_two_first_pushes_creating_the_same_merge_fields_both_succeed(
    mailchimp, beach, alice, monkeypatch
):
    dana = capture(beach.team, "dana@example.com").contact
    eli = capture(beach.team, "eli@example.com").contact
    # Two workers just started: each has its own backend, which has not looked at the
    # audience's merge fields yet. Both look before either creates one.
    backends = threading.local()

    def fresh_backend() -> MailchimpBackend:
        if not hasattr(backends, "one"):
            backends.one = MailchimpBackend()
        return backends.one

    monkeypatch.setattr(services, "active_backend", fresh_backend)
    both_looked = threading.Barrier(2, timeout=10)
    looks = iter(range(2))  # the first two looks wait for each other

    def hold(method: str, path: str) -> None:
        if method == "GET" and path.endswith("/merge-fields") and next(looks, None) is not None:
            both_looked.wait()

    mailchimp.before = hold
    threads = [in_thread(functools.partial(marketing_push, contact_id=c.pk)) for c in (dana, eli)]
    for thread, _ in threads:
        thread.join(30)

    assert [results for _, results in threads] == [["pushed"], ["pushed"]]
    creates = mailchimp.requests_to("POST", "/merge-fields$")
    assert len(creates) == 10  # both created the five missing fields: the race happened
    assert {"AGENT", "LEADTYPE", "SOURCE", "STAGE", "ZIP"} <= set(mailchimp.merge_tags)
    assert len(mailchimp.merge_tags) == len(set(mailchimp.merge_tags))  # each made once
    assert mailchimp.member("dana@example.com")["status"] == "subscribed"
    assert mailchimp.member("eli@example.com")["status"] == "subscribed"
    for state in SyncState.objects.all():
        assert (state.error_permanent, state.last_error, state.due_at) == (False, "", None)
    assert not Activity.objects.filter(summary__startswith="Mailchimp refused").exists()


def test_a_change_during_a_push_waits_for_it_and_its_failure_is_not_written(
    mailchimp, beach, alice
):
    contact = capture(beach.team, "dana@example.com").contact
    on_the_wire, release = threading.Event(), threading.Event()

    def hold(method: str, path: str) -> None:
        if method == "PUT" and "/members/" in path:
            on_the_wire.set()
            assert release.wait(10)

    mailchimp.before = hold
    first, results = in_thread(lambda: marketing_push(contact_id=contact.pk))
    assert on_the_wire.wait(10)

    # The contact changes while its push is on the wire.
    marketing_mark(contact_id=contact.pk, fields=["first_name"])
    state = SyncState.objects.get(contact=contact)
    assert state.due_at is not None
    assert state.due_at > timezone.now() + dt.timedelta(minutes=4)  # the lease stands
    assert marketing_push(contact_id=contact.pk) == "not due"  # no second push at once

    # Mailchimp refuses the push on the wire, which was of the contact before the change.
    mailchimp.fail_next.append((400, "Invalid Resource", "Please provide a valid email."))
    mailchimp.before = None
    release.set()
    first.join(30)

    assert results == ["permanent"]
    state.refresh_from_db()
    assert (state.error_permanent, state.last_error) == (False, "")  # not the current version
    assert state.due_at is not None
    assert state.due_at <= timezone.now()  # the change is pushed now, not when the lease ends
    assert not Activity.objects.filter(summary__startswith="Mailchimp refused").exists()
    assert marketing_push(contact_id=contact.pk) == "pushed"
    assert mailchimp.member("dana@example.com")["status"] == "subscribed"
