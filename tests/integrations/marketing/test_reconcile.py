"""Reconciliation: members changed on Mailchimp while no webhook reached us still arrive."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from integrations.marketing.models import SyncRun
from integrations.marketing.services import marketing_mark, marketing_reconcile
from leads.data import ConsentData, LeadData
from leads.models import Activity, Contact
from leads.services import lead_capture

from .fake_mailchimp import md5

pytestmark = pytest.mark.django_db


def capture(team, email: str) -> Contact:
    now = timezone.now()
    data = LeadData(
        source="webform",
        external_id=f"rec-{email}",
        received_at=now,
        team_id=team.pk,
        first_name="Dana",
        email=email,
        consents=(ConsentData("marketing_email", True, "Send me new listings.", now),),
    )
    return lead_capture(data=data).lead.contact


def test_reconciliation_recovers_a_missed_unsubscribe_and_profile_edit(mailchimp, team, run_queue):
    dana = capture(team, "dana@example.com")
    capture(team, "eve@example.com")
    run_queue()
    # On Mailchimp, while our webhook was down: Dana unsubscribed and changed her name.
    member = mailchimp.member("dana@example.com")
    member.update(status="unsubscribed", last_changed=timezone.now().isoformat())
    member["merge_fields"]["FNAME"] = "Danielle"
    pushes = len(mailchimp.requests_to("PUT"))

    run = marketing_reconcile()
    run_queue()

    assert run is not None
    assert run.status == SyncRun.Status.FINISHED
    assert run.total == 2  # both members changed today (our own pushes too)
    assert run.changed == 1
    dana.refresh_from_db()
    assert dana.marketing_status == "unsubscribed"
    assert dana.first_name == "Danielle"
    assert Activity.objects.filter(contact=dana, data__origin="mailchimp").count() == 2
    assert len(mailchimp.requests_to("PUT")) == pushes  # nothing echoed back


def test_reconciling_twice_changes_nothing_the_second_time(mailchimp, team, run_queue):
    dana = capture(team, "dana@example.com")
    run_queue()
    mailchimp.member("dana@example.com")["status"] = "cleaned"

    marketing_reconcile()
    second = marketing_reconcile()

    assert second is not None
    assert second.changed == 0
    assert Activity.objects.filter(contact=dana, data__event="cleaned").count() == 1


def test_the_next_run_reads_only_since_the_previous_one(mailchimp, team):
    first = marketing_reconcile()
    assert first is not None
    SyncRun.objects.filter(pk=first.pk).update(started_at=timezone.now() - dt.timedelta(minutes=15))

    marketing_reconcile()

    asked = mailchimp.requests_to("GET", "/members$")[-1].query["since_last_changed"][0]
    since = dt.datetime.fromisoformat(asked)
    assert timezone.now() - since == pytest.approx(
        dt.timedelta(minutes=16), abs=dt.timedelta(seconds=5)
    )


def test_a_crm_change_newer_than_the_member_wins(mailchimp, team, run_queue):
    dana = capture(team, "dana@example.com")
    run_queue()
    member = mailchimp.member("dana@example.com")
    member["merge_fields"]["FNAME"] = "Old name"
    member["last_changed"] = (timezone.now() - dt.timedelta(minutes=5)).isoformat()
    Contact.objects.filter(pk=dana.pk).update(first_name="Dani")
    marketing_mark(contact_id=dana.pk, fields=["first_name"])

    marketing_reconcile()

    dana.refresh_from_db()
    assert dana.first_name == "Dani"


def test_a_member_unknown_to_the_crm_is_left_alone(mailchimp, team):
    mailchimp.add_member("stranger@example.com", "subscribed", FNAME="Stan")

    run = marketing_reconcile()

    assert run is not None
    assert (run.total, run.changed) == (1, 0)
    assert md5("stranger@example.com") in mailchimp.members


def test_a_failed_read_is_recorded_on_the_run(mailchimp, team):
    mailchimp.fail_next.append((401, "API Key Invalid", "Your API key may be invalid."))

    run = marketing_reconcile()

    assert run is not None
    assert run.status == SyncRun.Status.FAILED
    assert "API Key Invalid" in run.error


def test_an_older_subscription_does_not_undo_a_crm_unsubscribe(mailchimp, team, run_queue, alice):
    from integrations.marketing.services import marketing_consent_set

    dana = capture(team, "dana@example.com")
    run_queue()
    member = mailchimp.member("dana@example.com")
    member["last_changed"] = (timezone.now() - dt.timedelta(minutes=5)).isoformat()

    marketing_consent_set(contact=dana, subscribed=False, actor=alice.user)  # not pushed yet
    marketing_reconcile()

    dana.refresh_from_db()
    assert dana.marketing_status == "unsubscribed"
    run_queue()
    assert mailchimp.member("dana@example.com")["status"] == "unsubscribed"
