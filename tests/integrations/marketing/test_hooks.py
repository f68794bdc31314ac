"""Mailchimp's audience webhooks: each fixture posted as Mailchimp sends it, one outcome each."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from integrations.intake.models import InboundEvent
from integrations.marketing.models import SyncState
from integrations.marketing.services import marketing_mark
from leads.data import ConsentData, LeadData
from leads.models import Activity, Contact, ContactEmail, Lead
from leads.services import lead_capture, lead_set_status

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "mailchimp"
TOKEN = "hook-secret-0123456789abcdef"
URL = f"/hooks/mailchimp/{TOKEN}/"
FORM = "application/x-www-form-urlencoded"

pytestmark = pytest.mark.django_db


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def post(client, name: str, url: str = URL):
    return client.post(url, fixture(name), content_type=FORM)


@pytest.fixture
def contact(mailchimp, beach, alice, run_queue) -> Contact:
    """Dana, captured with marketing consent and pushed to Mailchimp."""
    now = timezone.now()
    data = LeadData(
        source="webform",
        external_id="mc-hook-1",
        received_at=now,
        team_id=beach.team_id,
        first_name="Dana",
        last_name="Reyes",
        email="dana@example.com",
        property_zip="33139",
        consents=(ConsentData("marketing_email", True, "Send me new listings.", now),),
    )
    lead = lead_capture(data=data).lead
    run_queue()
    assert mailchimp.member("dana@example.com")["status"] == "subscribed"
    return Contact.objects.get(pk=lead.contact_id)


# --- The door ---------------------------------------------------------------------------------


def test_it_answers_mailchimps_get_check_and_stores_nothing(client, mailchimp):
    assert client.get(URL).status_code == 200
    assert InboundEvent.objects.count() == 0


def test_it_answers_an_empty_post_check_and_stores_nothing(client, mailchimp):
    assert client.post(URL, b"", content_type=FORM).status_code == 200
    assert InboundEvent.objects.count() == 0


def test_it_refuses_a_wrong_token_and_stores_nothing(client, mailchimp):
    response = post(client, "unsubscribe__manual.txt", url="/hooks/mailchimp/guessed/")
    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0


def test_it_is_closed_while_no_token_is_set(client, settings):
    settings.MAILCHIMP_WEBHOOK_TOKEN = ""
    response = post(client, "unsubscribe__manual.txt", url="/hooks/mailchimp/anything/")
    assert response.status_code == 404
    assert InboundEvent.objects.count() == 0


def test_it_stores_a_body_without_a_type_as_failed_and_answers_400(client, mailchimp):
    response = post(client, "profile__no_type.txt")
    assert response.status_code == 400
    assert "type" in response.json()["message"]
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert event.source == "mailchimp"


def test_it_stores_a_bad_fired_at_as_failed_and_answers_400(client, mailchimp):
    response = post(client, "profile__bad_time.txt")
    assert response.status_code == 400
    assert "fired_at" in InboundEvent.objects.get().error


def test_a_json_body_is_refused_with_400(client, mailchimp):
    response = client.post(URL, b'{"type": "profile"}', content_type="application/json")
    assert response.status_code == 400


def test_a_repeated_delivery_is_stored_once(client, contact, run_queue):
    assert post(client, "unsubscribe__manual.txt").status_code == 200
    assert post(client, "unsubscribe__manual.txt").status_code == 200
    run_queue()
    assert InboundEvent.objects.filter(source="mailchimp").count() == 1
    assert Activity.objects.filter(contact=contact, data__event="unsubscribe").count() == 1


# --- What each event does ---------------------------------------------------------------------


def test_an_unsubscribe_flips_the_contact_and_no_crm_edit_resubscribes_it(
    client,
    contact,
    mailchimp,
    alice,
    run_queue,
):
    mailchimp.member("dana@example.com")["status"] = "unsubscribed"
    response = post(client, "unsubscribe__manual.txt")
    assert response.status_code == 200
    assert InboundEvent.objects.get(source="mailchimp").status == "received"  # raw first
    run_queue()

    contact.refresh_from_db()
    assert contact.marketing_status == "unsubscribed"
    entry = Activity.objects.get(contact=contact, data__event="unsubscribe")
    assert entry.summary == "Unsubscribed from marketing email in Mailchimp (manual)"
    assert InboundEvent.objects.get(source="mailchimp").status == "processed"

    lead = Lead.objects.get(contact=contact)
    lead_set_status(lead=lead, status=Lead.Status.CONTACTED, agent=alice)
    run_queue()

    last = mailchimp.requests_to("PUT", "/members/")[-1]
    assert last.body["merge_fields"]["STAGE"] == "contacted"
    assert "status" not in last.body
    assert last.body["status_if_new"] == "unsubscribed"
    assert mailchimp.member("dana@example.com")["status"] == "unsubscribed"


def test_a_deleted_member_is_unsubscribed_and_never_recreated_as_subscribed(
    client,
    contact,
    mailchimp,
    alice,
    run_queue,
):
    mailchimp.members.clear()  # deleted from the audience
    post(client, "unsubscribe__delete.txt")
    run_queue()
    contact.refresh_from_db()
    assert contact.marketing_status == "unsubscribed"
    assert Activity.objects.get(contact=contact, data__event="unsubscribe").summary.startswith(
        "Deleted from"
    )

    lead_set_status(lead=contact.leads.get(), status=Lead.Status.QUALIFIED, agent=alice)
    run_queue()
    assert mailchimp.member("dana@example.com")["status"] == "unsubscribed"


def test_a_profile_edit_arrives_and_nothing_is_pushed_back(client, contact, mailchimp, run_queue):
    pushes = len(mailchimp.requests_to("PUT"))

    post(client, "profile__name_changed.txt")
    run_queue()

    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.phone) == (
        "Danielle", "Reyes-Ortiz", "+13055550142",
    )  # fmt: skip
    changes = SyncState.objects.get(contact=contact).field_changes
    assert changes["first_name"]["origin"] == "mailchimp"
    entry = Activity.objects.get(contact=contact, data__event="profile")
    assert entry.data["changes"]["first_name"] == {"from": "Dana", "to": "Danielle"}
    assert len(mailchimp.requests_to("PUT")) == pushes  # no echo
    assert SyncState.objects.get(contact=contact).due_at is None


def test_a_profile_edit_older_than_the_crms_change_loses(client, contact, mailchimp, run_queue):
    Contact.objects.filter(pk=contact.pk).update(first_name="Dani")
    marketing_mark(contact_id=contact.pk, fields=["first_name"])  # changed in the CRM just now
    run_queue()

    post(client, "profile__name_changed.txt")  # fired at 09:25, before the CRM's change
    run_queue()

    contact.refresh_from_db()
    assert contact.first_name == "Dani"
    assert contact.last_name == "Reyes-Ortiz"  # a field the CRM did not change still follows
    assert mailchimp.member("dana@example.com")["merge_fields"]["FNAME"] == "Dani"


def test_an_email_change_follows_the_contact(client, contact, run_queue):
    post(client, "upemail__changed.txt")
    run_queue()

    contact.refresh_from_db()
    assert contact.email == "dana.reyes@example.net"
    assert ContactEmail.objects.filter(contact=contact, email="dana.reyes@example.net").exists()
    assert SyncState.objects.get(contact=contact).email == "dana.reyes@example.net"
    assert (
        "dana.reyes@example.net"
        in Activity.objects.get(contact=contact, data__event="upemail").summary
    )


def test_a_hard_bounce_marks_the_contact_cleaned(client, contact, run_queue):
    post(client, "cleaned__hard.txt")
    run_queue()

    contact.refresh_from_db()
    assert contact.marketing_status == "cleaned"
    assert "(hard)" in Activity.objects.get(contact=contact, data__event="cleaned").summary


def test_an_abuse_complaint_marks_the_contact_cleaned_and_records_the_refusal(
    client, contact, run_queue
):
    post(client, "cleaned__abuse.txt")
    run_queue()

    contact.refresh_from_db()
    assert contact.marketing_status == "cleaned"
    consent = contact.consents.get(origin="mailchimp: cleaned")
    assert consent.channel == "marketing_email"
    assert consent.granted is False
    assert consent.text == "cleaned in Mailchimp (abuse)"


def test_a_subscribe_marks_the_contact_subscribed(client, contact, run_queue):
    Contact.objects.filter(pk=contact.pk).update(marketing_status="unsubscribed")

    post(client, "subscribe__new.txt")
    run_queue()

    contact.refresh_from_db()
    assert contact.marketing_status == "subscribed"


def test_a_campaign_event_is_kept_and_ignored(client, contact, run_queue):
    assert post(client, "campaign__sent.txt").status_code == 200
    run_queue()

    assert InboundEvent.objects.get(source="mailchimp").status == "ignored"
    assert not Activity.objects.filter(contact=contact, data__origin="mailchimp").exists()


def test_an_address_the_crm_does_not_know_is_ignored(client, mailchimp, run_queue):
    post(client, "unsubscribe__manual.txt")
    run_queue()

    assert InboundEvent.objects.get(source="mailchimp").status == "ignored"


def test_an_email_change_to_another_persons_address_is_not_applied(client, contact, run_queue):
    other = Contact.objects.create(first_name="Eve", email="dana.reyes@example.net")
    ContactEmail.objects.create(contact=other, email=other.email)

    post(client, "upemail__changed.txt")
    run_queue()

    contact.refresh_from_db()
    assert contact.email == "dana@example.com"
    assert not Activity.objects.filter(contact=contact, data__event="upemail").exists()
