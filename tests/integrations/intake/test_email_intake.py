"""Lead emails: stored raw as one ``email`` event per message, the recipient deciding the team
and the agent, parsed by the worker (Real Estate Lead Metadata, a person's own email)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from integrations.intake.models import InboundEvent
from integrations.intake.selectors import email_unknown_recipients
from integrations.intake.services import events_replay
from integrations.intake.sources.email.message import message_key, read_message
from integrations.intake.sources.email.source import email_store
from leads.models import Agent, Lead, Team

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("intake_domain")]


@pytest.fixture
def intake_domain(settings):
    settings.EMAIL_INTAKE_DOMAIN = "leads.example.com"
    settings.EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS = ["mx.leads.example.com"]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def trusted(raw: bytes, results: str) -> bytes:
    """``raw`` as our own receiving server hands it on: with its Authentication-Results."""
    return f"Authentication-Results: mx.leads.example.com; {results}\r\n".encode() + raw


# --- Stored raw, once -------------------------------------------------------------------------


def test_a_message_is_stored_raw_keyed_on_its_message_id_and_made_a_lead_by_the_worker(
    team, beach, alice, run_queue
):
    raw = fixture("leadmetadata__head.eml")

    stored = email_store(raw=raw, door="pipe")

    event = stored.event
    assert stored.created
    assert (event.source, event.status, event.content_type) == (
        "email",
        "received",
        "message/rfc822",
    )
    assert bytes(event.body) == raw
    assert event.external_id == "mid:lm-head-0001@idx.example.net"
    assert event.meta == {"door": "pipe", "recipient": ""}
    assert not Lead.objects.exists()

    run_queue()

    event.refresh_from_db()
    lead = Lead.objects.select_related("contact").get()
    assert (event.status, event.lead) == ("processed", lead)
    assert (lead.source, lead.external_id, lead.raw_event_id) == (
        "email",
        event.external_id,
        event.pk,
    )
    assert lead.team == team
    assert lead.property_zip == "33139"
    assert lead.assigned_agent == alice  # routed by the ZIP: Miami Beach, Alice first
    assert (lead.contact.email, lead.contact.phone) == ("jordan.rivera@example.com", "+13055550142")


def test_the_same_message_twice_is_one_event_and_one_lead(team, run_queue):
    raw = fixture("leadmetadata__head.eml")
    first = email_store(raw=raw, door="pipe")
    # The same message by another door: a mailbox adds its own trace headers.
    again = email_store(raw=b"Received: from imap by leadline\r\n" + raw, door="imap")

    assert first.created
    assert not again.created
    assert again.event.pk == first.event.pk
    run_queue()
    assert Lead.objects.count() == 1


def test_a_message_without_message_id_is_keyed_on_its_content_across_doors(team, run_queue):
    raw = fixture("fallback__inquiry.eml")
    assert b"Message-ID" not in raw

    first = email_store(raw=raw, door="pipe")
    again = email_store(
        raw=b"Delivered-To: miami@leads.example.com\r\nReceived: by mx\r\n" + raw, door="imap"
    )

    assert first.event.external_id.startswith("sha256:")
    assert (again.created, again.event.pk) == (False, first.event.pk)
    other = email_store(raw=raw.replace(b"Saturday", b"Sunday"), door="pipe")
    assert other.created  # another text is another message


def test_a_very_long_message_id_is_hashed_to_fit():
    raw = b"From: a@example.com\r\nMessage-ID: <" + b"x" * 300 + b"@example.com>\r\n\r\nhi"
    key = message_key(read_message(raw), raw)
    assert key.startswith("mid-sha256:")
    assert len(key) <= 200


def test_bytes_that_are_not_a_message_are_kept_failed_with_the_reason():
    stored = email_store(raw=b"\x89PNG\r\n\x1a\n\x00\x00binary", door="pipe")

    assert stored.event.status == "failed"
    assert "does not start with a mail header" in stored.event.error
    assert bytes(stored.event.body) == b"\x89PNG\r\n\x1a\n\x00\x00binary"


# --- Who the lead is for ----------------------------------------------------------------------


def test_teams_and_agents_get_slugs_from_their_name_and_username(team, alice):
    assert team.slug == "miami"
    assert alice.slug == "alice"
    second = Team.objects.create(name="MIAMI!")
    assert second.slug == "miami-2"
    renamed = Team.objects.create(name="Sunrise Realty", slug="sunrise")
    assert renamed.slug == "sunrise"


def test_an_agents_address_pins_the_lead_to_that_agent(team, beach, alice, bob, run_queue):
    raw = fixture("leadmetadata__head.eml").replace(
        b"Delivered-To: miami@leads.example.com", b"Delivered-To: miami+bob@leads.example.com"
    )
    email_store(raw=raw, door="pipe")
    run_queue()

    lead = Lead.objects.get()
    assert lead.pinned_agent == bob
    assert lead.assigned_agent == bob  # not Alice, whom the ZIP would have picked


def test_the_envelope_recipient_wins_over_the_headers(team, other_team, run_queue):
    email_store(
        raw=fixture("leadmetadata__head.eml"), door="pipe", recipient="Orlando@Leads.Example.com"
    )
    run_queue()

    assert Lead.objects.get().team == other_team


def test_an_unknown_recipient_is_stored_ignored_and_shown_on_the_health_page(
    team, admin_client, run_queue
):
    raw = fixture("leadmetadata__head.eml").replace(b"miami@", b"miama@")
    stored = email_store(raw=raw, door="pipe")
    run_queue()

    stored.event.refresh_from_db()
    assert stored.event.status == "ignored"
    assert stored.event.error.startswith("Unknown recipient miama@leads.example.com")
    assert not Lead.objects.exists()
    [unknown] = email_unknown_recipients()
    assert (unknown.address, unknown.emails) == ("miama@leads.example.com", 1)

    page = admin_client.get(reverse("admin:intake_leadsource_changelist"))
    assert page.status_code == 200
    assert b"miama@leads.example.com" in page.content

    # The team takes that address: a replay brings the lead.
    Team.objects.filter(pk=team.pk).update(slug="miama")
    events_replay(events=[stored.event])
    run_queue()
    stored.event.refresh_from_db()
    assert stored.event.status == "processed"
    assert Lead.objects.get().team == team


def test_no_intake_domain_means_no_address_is_known(team, settings, run_queue):
    settings.EMAIL_INTAKE_DOMAIN = ""
    stored = email_store(raw=fixture("leadmetadata__head.eml"), door="pipe")
    run_queue()
    stored.event.refresh_from_db()
    assert stored.event.status == "ignored"


def test_the_agent_sees_their_lead_address_on_their_settings_page(client, alice):
    client.force_login(alice.user)
    page = client.get(reverse("leads:settings"))
    assert b"miami+alice@leads.example.com" in page.content
    assert b"miami@leads.example.com" in page.content


def test_the_team_admin_page_shows_the_teams_address(admin_client, team):
    page = admin_client.get(reverse("admin:leads_team_change", args=[team.pk]))
    assert page.status_code == 200
    assert b"miami@leads.example.com" in page.content


# --- Real Estate Lead Metadata 1.0 -----------------------------------------------------------


def test_every_field_of_the_lead_metadata_standard_is_read(team, bob, run_queue):
    email_store(
        raw=trusted(fixture("leadmetadata__head.eml"), "dkim=pass header.d=idx.example.net"),
        door="pipe",
    )
    run_queue()

    lead = Lead.objects.select_related("contact").get()
    contact = lead.contact
    assert (contact.first_name, contact.last_name) == ("Jordan", "Rivera")
    assert lead.lead_type == "buyer"
    assert lead.message == "Is this condo still available? I'd like to see it this weekend."
    assert (lead.property_address, lead.property_city, lead.property_state) == (
        "1500 Collins Ave #402", "Miami Beach", "FL",
    )  # fmt: skip
    assert (lead.mls_number, lead.price) == ("A11500402", Decimal("650000.00"))
    assert lead.source_detail == "Real Estate Lead Metadata 1.0: Ocean Drive IDX"
    assert lead.extra["lead_metadata"] == {
        "lead_primary_zip": "33140",
        "lead_time_frame": "1-3 months",
        "lead_financing": "already-pre-qualified",
        "lead_min_bedrooms": "2",
    }
    facts = lead.extra["email"]
    assert facts["sender_verified"] is True
    assert facts["authentication"]["by"] == "authentication-results:mx.leads.example.com"
    # The sender authenticated: its assignment is believed.
    assert lead.pinned_agent == bob


def test_an_unverified_sender_is_captured_flagged_and_its_assignment_ignored(
    team, beach, alice, bob, run_queue
):
    forged = trusted(fixture("leadmetadata__head.eml"), "dkim=fail header.d=idx.example.net")
    email_store(raw=forged, door="pipe")
    run_queue()

    lead = Lead.objects.get()
    assert lead.source_detail.endswith("sender not verified")
    assert lead.extra["email"]["sender_verified"] is False
    assert lead.extra["email"]["assignment_ignored"] == "bob@example.com"
    assert lead.pinned_agent is None
    assert lead.assigned_agent == alice  # by the ZIP, as if no one had been named


def test_a_header_from_a_server_we_do_not_trust_is_not_believed(team, bob, run_queue):
    raw = fixture("leadmetadata__head.eml")
    forged = b"Authentication-Results: mx.attacker.example; dkim=pass header.d=idx.example.net\r\n"
    email_store(raw=forged + raw, door="pipe")
    run_queue()

    lead = Lead.objects.get()
    assert lead.extra["email"]["sender_verified"] is False
    assert lead.pinned_agent is None


def test_tags_in_the_body_and_an_address_with_its_city_state_and_zip(team, run_queue):
    email_store(raw=fixture("leadmetadata__tags_in_body.eml"), door="pipe")
    run_queue()

    lead = Lead.objects.select_related("contact").get()
    assert lead.extra["email"]["parser"] == "leadmetadata"
    assert lead.lead_type == "seller"
    assert lead.contact.phone == "+17865550199"
    assert (lead.property_address, lead.property_city, lead.property_state, lead.property_zip) == (
        "742 Alhambra Cir", "Coral Gables", "FL", "33134",
    )  # fmt: skip


def test_a_lead_naming_nobody_to_reach_fails_with_the_reason_and_can_be_replayed(team, run_queue):
    stored = email_store(raw=fixture("leadmetadata__no_contact.eml"), door="pipe")
    run_queue()

    event = InboundEvent.objects.get(pk=stored.event.pk)
    assert event.status == "failed"
    assert "lead_email, lead_phone" in event.error
    assert events_replay(events=[event]) == 1


# --- A person's own email ---------------------------------------------------------------------


def test_a_persons_inquiry_to_the_team_becomes_a_lead_from_sender_subject_and_body(team, run_queue):
    email_store(raw=fixture("fallback__inquiry.eml"), door="pipe")
    run_queue()

    lead = Lead.objects.select_related("contact").get()
    assert (lead.contact.first_name, lead.contact.last_name) == ("Dana", "Whitfield")
    assert lead.contact.email == "dana.whitfield@example.org"
    assert lead.contact.phone == "+13055550177"
    assert lead.message.startswith("Question about the house on Pine Tree Drive\n\nHello,")
    assert lead.extra["email"]["parser"] == "fallback"


def test_a_newsletter_to_the_team_is_stored_and_ignored(team, run_queue):
    stored = email_store(raw=fixture("fallback__newsletter.eml"), door="pipe")
    run_queue()

    stored.event.refresh_from_db()
    assert stored.event.status == "ignored"
    assert stored.event.error.startswith("Not an inquiry")
    assert not Lead.objects.exists()


def test_health_counts_only_recent_unknown_recipients(team):
    stored = email_store(
        raw=fixture("fallback__inquiry.eml").replace(b"miami@", b"nobody@"), door="pipe"
    )
    InboundEvent.objects.filter(pk=stored.event.pk).update(
        status="ignored", error="Unknown recipient nobody@leads.example.com: no team"
    )
    later = stored.event.received_at + dt.timedelta(days=31)
    assert email_unknown_recipients(now=later) == []
    assert len(email_unknown_recipients()) == 1
    assert Agent.objects.count() == 0
