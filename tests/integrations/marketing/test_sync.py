"""The CRM pushing contacts to Mailchimp (the fake server), through the real queue."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from integrations.marketing.models import SyncState
from integrations.marketing.services import (
    marketing_consent_set,
    marketing_mark,
    marketing_push,
    marketing_retry,
    marketing_sweep,
)
from leads.data import ConsentData, LeadData
from leads.models import Activity, Contact, Lead
from leads.services import lead_capture, lead_set_status

pytestmark = pytest.mark.django_db


def capture(team, email="dana@example.com", consent=True, n=1, **fields) -> Lead:
    now = timezone.now()
    consents = (ConsentData("marketing_email", consent, "Send me new listings.", now),)
    data = LeadData(
        source="webform",
        external_id=f"sync-test-{email}-{n}",
        received_at=now,
        team_id=team.pk,
        first_name="Dana",
        last_name="Reyes",
        email=email,
        phone="+13055550199",
        property_zip="33139",
        lead_type="seller",
        consents=consents,
        **fields,
    )
    return lead_capture(data=data).lead


def test_a_new_lead_reaches_mailchimp_with_its_fields_and_tags(mailchimp, beach, alice, run_queue):
    lead = capture(beach.team)
    run_queue()

    member = mailchimp.member("dana@example.com")
    assert member["status"] == "subscribed"
    assert member["merge_fields"] == {
        "FNAME": "Dana", "LNAME": "Reyes", "PHONE": "+13055550199", "SOURCE": "webform",
        "LEADTYPE": "seller", "STAGE": "new", "AGENT": "Alice", "ZIP": "33139",
    }  # fmt: skip
    tags = mailchimp.tags[member["id"]]
    assert tags == {
        "source:webform": True,
        "type:seller": True,
        "stage:new": True,
        "agent:Alice": True,
    }
    state = SyncState.objects.get(contact=lead.contact)
    assert state.pushed_at is not None
    assert state.due_at is None
    assert state.email == "dana@example.com"
    lead.contact.refresh_from_db()
    assert lead.contact.marketing_status == "subscribed"


def test_changes_in_a_burst_make_one_push(mailchimp, beach, alice, run_queue):
    capture(beach.team)  # captured, then assigned: two signals

    run_queue()

    assert len(mailchimp.requests_to("PUT", "/members/")) == 1


def test_an_unchanged_contact_is_not_sent_again(mailchimp, beach, alice, run_queue):
    lead = capture(beach.team)
    run_queue()
    state = SyncState.objects.get(contact=lead.contact)
    SyncState.objects.filter(pk=state.pk).update(due_at=timezone.now())

    assert marketing_push(contact_id=lead.contact_id) == "unchanged"
    assert len(mailchimp.requests_to("PUT", "/members/")) == 1


def test_a_stage_change_moves_the_stage_tag(mailchimp, beach, alice, run_queue):
    lead = capture(beach.team)
    run_queue()

    lead_set_status(lead=lead, status=Lead.Status.CONTACTED, agent=alice)
    run_queue()

    member = mailchimp.member("dana@example.com")
    assert member["merge_fields"]["STAGE"] == "contacted"
    assert mailchimp.tags[member["id"]]["stage:contacted"] is True
    assert mailchimp.tags[member["id"]]["stage:new"] is False


def test_without_marketing_consent_a_contact_is_only_transactional(mailchimp, team, run_queue):
    capture(team, consent=False)
    run_queue()

    put = mailchimp.requests_to("PUT", "/members/")[0]
    assert put.body["status_if_new"] == "transactional"
    assert mailchimp.member("dana@example.com")["status"] == "transactional"


def test_without_consent_a_contact_can_be_kept_out_altogether(settings, mailchimp, team, run_queue):
    settings.MARKETING_WITHOUT_CONSENT = "skip"
    capture(team, consent=False)
    run_queue()

    assert mailchimp.requests_to("PUT") == []


def test_an_unsubscribed_contact_edited_in_the_crm_stays_unsubscribed(
    mailchimp, beach, alice, run_queue
):
    lead = capture(beach.team)
    run_queue()
    mailchimp.member("dana@example.com")["status"] = "unsubscribed"
    Contact.objects.filter(pk=lead.contact_id).update(marketing_status="unsubscribed")

    lead_set_status(lead=lead, status=Lead.Status.QUALIFIED, agent=alice)
    run_queue()

    last = mailchimp.requests_to("PUT", "/members/")[-1]
    assert "status" not in last.body
    assert last.body["status_if_new"] == "unsubscribed"  # even if the member was deleted
    assert last.body["merge_fields"]["STAGE"] == "qualified"
    assert mailchimp.member("dana@example.com")["status"] == "unsubscribed"


def test_a_member_mailchimp_knows_as_unsubscribed_is_recorded_so(mailchimp, team, run_queue):
    mailchimp.add_member("dana@example.com", "unsubscribed")

    lead = capture(team)
    run_queue()

    lead.contact.refresh_from_db()
    assert lead.contact.marketing_status == "unsubscribed"
    assert mailchimp.member("dana@example.com")["status"] == "unsubscribed"


def test_only_a_persons_explicit_consent_change_sends_status(mailchimp, team, alice, run_queue):
    lead = capture(team, consent=False)
    run_queue()

    marketing_consent_set(contact=lead.contact, subscribed=True, actor=alice.user)
    run_queue()

    last = mailchimp.requests_to("PUT", "/members/")[-1]
    assert last.body["status"] == "subscribed"
    assert mailchimp.member("dana@example.com")["status"] == "subscribed"
    assert SyncState.objects.get(contact=lead.contact).send_status == ""
    assert lead.contact.consents.filter(channel="marketing_email", granted=True).exists()


def test_a_refusal_for_good_is_recorded_on_the_contact_and_not_retried(mailchimp, team, run_queue):
    mailchimp.forgotten.add("dana@example.com")

    lead = capture(team)
    run_queue()

    state = SyncState.objects.get(contact=lead.contact)
    assert state.error_permanent is True
    assert "Forgotten Email Not Subscribed" in state.last_error
    assert state.due_at is None
    assert Activity.objects.filter(
        contact=lead.contact, summary__contains="Mailchimp refused"
    ).exists()
    assert marketing_sweep() == 0

    Contact.objects.filter(pk=lead.contact_id).update(first_name="Danielle")
    marketing_mark(contact_id=lead.contact_id, fields=["first_name"])  # a later change
    run_queue()
    assert len(mailchimp.requests_to("PUT")) == 1  # not tried again at the same address
    assert Activity.objects.filter(contact=lead.contact, summary__contains="refused").count() == 1


def test_a_failure_that_passes_is_retried_by_the_sweeper(settings, mailchimp, team, run_queue):
    settings.MARKETING_RETRY_BASE_SECONDS = 0.01
    mailchimp.fail_next.extend([(503, "Service Unavailable", "")] * 3)  # outlasts http's retries

    lead = capture(team)
    run_queue()
    state = SyncState.objects.get(contact=lead.contact)
    assert state.attempts == 1
    assert "503" in state.last_error
    assert state.due_at is not None

    SyncState.objects.filter(pk=state.pk).update(due_at=timezone.now() - dt.timedelta(seconds=1))
    assert marketing_sweep() == 1
    run_queue()

    state.refresh_from_db()
    assert state.due_at is None
    assert state.last_error == ""
    assert state.attempts == 0
    assert mailchimp.member("dana@example.com") is not None


def test_an_operator_retry_pushes_a_refused_contact_again(mailchimp, team, run_queue):
    mailchimp.forgotten.add("dana@example.com")
    lead = capture(team)
    run_queue()
    mailchimp.forgotten.clear()

    marketing_retry(states=SyncState.objects.filter(contact=lead.contact))
    run_queue()

    state = SyncState.objects.get(contact=lead.contact)
    assert state.error_permanent is False
    assert state.pushed_at is not None


def test_an_email_changed_in_the_crm_moves_the_same_member(mailchimp, team, run_queue):
    lead = capture(team)
    run_queue()
    old_id = mailchimp.member("dana@example.com")["id"]

    Contact.objects.filter(pk=lead.contact_id).update(email="dana.reyes@example.com")
    from leads import signals

    signals.contact_changed.send(
        sender=Contact,
        contact=Contact.objects.get(pk=lead.contact_id),
        fields=["email"],
        origin="crm",
    )
    run_queue()

    last = mailchimp.requests_to("PUT", "/members/")[-1]
    assert last.path.endswith(old_id)
    assert mailchimp.member("dana@example.com") is None
    assert mailchimp.member("dana.reyes@example.com") is not None


def test_nothing_is_recorded_or_sent_while_the_sync_is_off(settings, mailchimp, team, run_queue):
    settings.MAILCHIMP_API_KEY = ""

    capture(team)
    run_queue()

    assert SyncState.objects.count() == 0
    assert mailchimp.calls == []


def test_an_accepted_lead_moves_the_stage(mailchimp, beach, alice, run_queue):
    from leads.services import lead_accept

    lead = capture(beach.team)
    run_queue()
    lead.refresh_from_db()

    assert lead_accept(lead=lead, agent=alice)
    run_queue()

    assert mailchimp.member("dana@example.com")["merge_fields"]["STAGE"] == "accepted"


def test_a_push_delay_waits_in_the_worker_and_gathers_the_changes(settings, mailchimp, team):
    import time

    settings.MARKETING_PUSH_DELAY_SECONDS = 0.3
    lead = capture(team)
    marketing_mark(contact_id=lead.contact_id, fields=["first_name"])

    started = time.monotonic()
    assert marketing_push(contact_id=lead.contact_id) == "pushed"
    assert time.monotonic() - started >= 0.25
    assert marketing_push(contact_id=lead.contact_id) == "nothing to push"
    assert len(mailchimp.requests_to("PUT", "/members/")) == 1


def test_a_test_lead_is_not_sent(mailchimp, team, run_queue):
    capture(team, is_test=True)
    run_queue()

    assert mailchimp.requests_to("PUT") == []
