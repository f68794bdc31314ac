"""Operations run the marketing sync from the admin: refusals, consent changes, runs."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from integrations.marketing.models import SyncRun, SyncState
from leads.models import Contact, ContactEmail

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/marketing/syncstate/"


@pytest.fixture
def ops(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-ops-123")
    client.force_login(user)
    return client


@pytest.fixture
def state(mailchimp) -> SyncState:
    contact = Contact.objects.create(first_name="Dana", email="dana@example.com")
    ContactEmail.objects.create(contact=contact, email=contact.email)
    mailchimp.add_member("dana@example.com", "unsubscribed")
    return SyncState.objects.create(
        contact=contact,
        email="dana@example.com",
        error_permanent=True,
        last_error="400 Member In Compliance State: ...",
    )


def act(client, action: str, state: SyncState):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [state.pk]}, follow=True)


def test_refusals_are_listed_and_filterable(ops, state):
    page = ops.get(CHANGELIST + "?error_permanent__exact=1").content.decode()
    assert "Member In Compliance State" in page
    assert "Dana" in page


def test_retry_pushes_a_refused_contact_again(ops, state, run_queue, mailchimp):
    response = act(ops, "retry", state)
    assert "Queued 1 contact(s)." in response.content.decode()
    run_queue()

    state.refresh_from_db()
    assert state.error_permanent is False
    assert mailchimp.member("dana@example.com")["status"] == "unsubscribed"  # status_if_new only


def test_subscribe_records_the_persons_consent_and_sends_status(ops, state, run_queue, mailchimp):
    mailchimp.member("dana@example.com")["status"] = "transactional"

    act(ops, "subscribe", state)
    run_queue()

    assert mailchimp.requests_to("PUT")[-1].body["status"] == "subscribed"
    assert mailchimp.member("dana@example.com")["status"] == "subscribed"
    consent = state.contact.consents.get()
    assert consent.granted is True
    assert consent.evidence["user"] is not None


def test_a_resubscribe_mailchimp_refuses_is_recorded(ops, state, run_queue, mailchimp):
    act(ops, "subscribe", state)  # the member unsubscribed on Mailchimp: compliance state
    run_queue()

    state.refresh_from_db()
    assert state.error_permanent is True
    assert "Member In Compliance State" in state.last_error
    assert mailchimp.member("dana@example.com")["status"] == "unsubscribed"


def test_reconcile_now_reports_what_it_read(ops, state):
    response = ops.post("/admin/marketing/syncrun/reconcile-now/", follow=True)
    assert "Reconciled 1 member(s); 1 contact(s) changed." in response.content.decode()
    state.contact.refresh_from_db()
    assert state.contact.marketing_status == "unsubscribed"
    assert SyncRun.objects.get().kind == SyncRun.Kind.RECONCILE


def test_a_staff_member_who_is_not_a_superuser_cannot_start_a_full_sync(client, mailchimp):
    user = get_user_model().objects.create_user("clerk", "c@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_syncrun"))
    client.force_login(user)

    response = client.post("/admin/marketing/syncrun/start-full-sync/", follow=True)

    assert "Only a superuser may start a full sync." in response.content.decode()
    assert SyncRun.objects.count() == 0
