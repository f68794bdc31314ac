"""The initial full sync through Mailchimp's batches, its progress, and the admin around it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from integrations.marketing.models import SyncRun, SyncState
from integrations.marketing.services import (
    marketing_full_sync,
    marketing_full_sync_start,
    marketing_runs_poll,
)
from leads.models import Consent, Contact, ContactEmail, Lead

pytestmark = pytest.mark.django_db


def make_contacts(team, count: int, start: int = 0) -> list[Contact]:
    """An existing database: contacts with a lead each, half of them with marketing consent."""
    now = timezone.now()
    contacts = Contact.objects.bulk_create(
        Contact(first_name=f"P{n}", last_name="Known", email=f"p{n}@example.com")
        for n in range(start, start + count)
    )
    ContactEmail.objects.bulk_create(ContactEmail(contact=c, email=c.email) for c in contacts)
    Lead.objects.bulk_create(
        Lead(
            contact=c, team=team, source="zillow", external_id=f"z{c.pk}", received_at=now,
            property_zip="33139", lead_type="buyer",
        )
        for c in contacts
    )  # fmt: skip
    Consent.objects.bulk_create(
        Consent(
            contact=c, channel="marketing_email", granted=True, text="Yes", origin="zillow",
            obtained_at=now,
        )
        for c in contacts[::2]
    )  # fmt: skip
    return contacts


def follow(run: SyncRun, run_queue=None) -> SyncRun:
    """Play the scheduled task until the run is over (a lost task is rung for again)."""
    later = timezone.now() + dt.timedelta(minutes=2)
    for _ in range(50):
        if run.status != SyncRun.Status.RUNNING:
            break
        marketing_runs_poll(now=later)
        if run_queue is not None:
            run_queue()
        run.refresh_from_db()
    assert run.status == SyncRun.Status.FINISHED, (run.status, run.error, run.batches)
    return run


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-ops-123")
    client.force_login(user)
    return client


def test_a_full_sync_goes_through_batches_and_reports_progress(settings, mailchimp, team):
    settings.MARKETING_BATCH_SIZE = 100
    make_contacts(team, 250)
    Contact.objects.create(first_name="No", last_name="Email")  # not counted, not sent
    mailchimp.forgotten.add("p7@example.com")

    run = marketing_full_sync_start(enqueue=False)
    assert run is not None
    run = marketing_full_sync(run_id=run.pk, wait_seconds=0)
    seen = [run.done]
    for _ in range(50):
        if run.status != SyncRun.Status.RUNNING:
            break
        marketing_runs_poll()
        run.refresh_from_db()
        seen.append(run.done)

    assert run.status == SyncRun.Status.FINISHED
    assert (run.total, run.done, run.errored) == (250, 250, 1)
    assert len(run.batches) == 3
    assert len(mailchimp.requests_to("POST", "^/3.0/batches$")) == 3
    assert any(0 < done < 250 for done in seen)  # progress was visible on the way
    assert mailchimp.member("p0@example.com")["status"] == "subscribed"
    assert mailchimp.member("p1@example.com")["status"] == "transactional"
    assert mailchimp.tags[mailchimp.member("p2@example.com")["id"]]["source:zillow"] is True
    assert len(mailchimp.members) == 249
    refused = SyncState.objects.get(contact__email="p7@example.com")
    assert refused.error_permanent is True
    assert "Forgotten Email Not Subscribed" in refused.last_error
    assert SyncState.objects.filter(pushed_at__isnull=False).count() == 249


def test_a_second_task_for_the_same_run_submits_nothing_again(mailchimp, team):
    make_contacts(team, 10)
    run = marketing_full_sync_start(enqueue=False)
    assert run is not None

    marketing_full_sync(run_id=run.pk, wait_seconds=0)
    marketing_full_sync(run_id=run.pk, wait_seconds=0)

    assert len(mailchimp.requests_to("POST", "^/3.0/batches$")) == 1


def test_the_admin_starts_a_full_sync_that_the_queue_runs(staff_client, mailchimp, team, run_queue):
    make_contacts(team, 20)

    response = staff_client.post("/admin/marketing/syncrun/start-full-sync/")
    assert response.status_code == 302
    run_queue()

    run = follow(SyncRun.objects.get(), run_queue)
    assert (run.done, run.total) == (20, 20)
    page = staff_client.get("/admin/marketing/syncrun/").content.decode()
    assert '<progress max="100" value="100"></progress> 20 / 20 (100%)' in page
    assert "Start a full sync" in page


def test_the_admin_says_the_sync_is_off(settings, staff_client):
    settings.MAILCHIMP_API_KEY = ""
    settings.MAILCHIMP_AUDIENCE_ID = ""

    page = staff_client.get("/admin/marketing/syncrun/").content.decode()

    assert "Mailchimp sync is off: set MAILCHIMP_API_KEY, MAILCHIMP_AUDIENCE_ID." in page
    assert "Start a full sync" not in page
    assert staff_client.get("/admin/marketing/syncstate/").status_code == 200


def test_a_refusal_shows_on_the_contacts_admin_page(staff_client, mailchimp, team, run_queue):
    contact = make_contacts(team, 1)[0]
    SyncState.objects.create(
        contact=contact, error_permanent=True, last_error="400 Member In Compliance State: ..."
    )

    page = staff_client.get(f"/admin/leads/contact/{contact.pk}/change/").content.decode()

    assert "Member In Compliance State" in page


def test_the_command_runs_a_full_sync_to_the_end(mailchimp, team, capsys):
    make_contacts(team, 30)

    call_command("marketing_sync", "--full", "--poll", "0")

    out = capsys.readouterr().out
    assert "finished" in out
    assert "30 contact(s)" in out
    assert len(mailchimp.members) == 30


def test_a_second_full_sync_updates_the_states_it_finds(mailchimp, team):
    make_contacts(team, 5)
    for _ in range(2):
        run = marketing_full_sync_start(enqueue=False)
        assert run is not None
        follow(marketing_full_sync(run_id=run.pk, wait_seconds=0))

    assert SyncState.objects.count() == 5
    tags = [state.pushed_tags for state in SyncState.objects.all()]
    assert tags == [["source:zillow", "stage:new", "type:buyer"]] * 5
    assert SyncState.objects.filter(pushed_at__isnull=True).count() == 0
    assert len(mailchimp.requests_to("POST", "^/3.0/batches$")) == 2


def test_a_run_whose_task_was_lost_is_rung_for_again(mailchimp, team, run_queue):
    make_contacts(team, 3)
    run = marketing_full_sync_start(enqueue=False)  # as if the broker lost its task
    assert run is not None

    assert marketing_runs_poll() == 0  # not a minute old yet: its task may still come
    follow(run, run_queue)

    assert len(mailchimp.members) == 3
