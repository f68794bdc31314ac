"""Each vendor's lead emails against its fixtures (tests/fixtures/email/<vendor>__<variant>.eml),
forwards from agents in the common mail programs' formats, and a vendor's message whose sender
did not authenticate."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from integrations.intake.models import InboundEvent
from integrations.intake.services import events_replay
from integrations.intake.sources.email.source import email_store
from leads.models import Lead

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("intake_domain")]


@pytest.fixture
def intake_domain(settings):
    settings.EMAIL_INTAKE_DOMAIN = "leads.example.com"
    settings.EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS = ["mx.leads.example.com"]


def deliver(name: str, authenticated: str = "", run_queue=None) -> InboundEvent:
    """Store the fixture as our receiving server hands it on (with its verdict on the domain
    ``authenticated`` when given), run the worker, return the event."""
    raw = (FIXTURES / name).read_bytes()
    if authenticated:
        raw = (
            f"Authentication-Results: mx.leads.example.com; dkim=pass header.d={authenticated}; "
            f"dmarc=pass header.from={authenticated}\r\n"
        ).encode() + raw
    stored = email_store(raw=raw, door="pipe")
    assert run_queue is not None
    run_queue()
    stored.event.refresh_from_db()
    return stored.event


# --- Zillow Rentals -----------------------------------------------------------------------------


def test_zillow_rentals_inquiry_keeps_the_relay_as_a_reply_alias_not_the_persons_email(
    team, run_queue
):
    event = deliver("zillow_rentals__inquiry.eml", "zillow.com", run_queue)

    lead = Lead.objects.select_related("contact").get()
    assert event.status == "processed"
    assert (lead.contact.first_name, lead.contact.last_name) == ("Priya", "Shah")
    assert lead.contact.email == ""  # the convo relay is not Priya's address
    assert lead.contact.phone == "+13055550171"
    assert lead.lead_type == "renter"
    assert lead.message == "I would like to schedule a tour. Is parking included?"
    assert (lead.property_address, lead.property_city, lead.property_state, lead.property_zip) == (
        "6301 Collins Ave #1204", "Miami Beach", "FL", "33141",
    )  # fmt: skip
    facts = lead.extra["email"]
    assert facts["reply_alias"] == "k2x9q7m4t8v1c5n3r6b0w2z8y4@convo.zillow.com"
    assert facts["sender_verified"] is True
    assert lead.extra["zillow_rentals"] == {
        "move_in": "Jan 15, 2027",
        "credit_score": "660 to 719",
        "income": "$96,000",
        "pets": "Cat",
    }
    assert lead.source_detail == "Zillow Rentals email: Information"


def test_zillow_rentals_application_finds_the_listing_in_the_body(team, run_queue):
    deliver("zillow_rentals__application.eml", "zillow.com", run_queue)

    lead = Lead.objects.get()
    assert (lead.property_address, lead.property_zip) == ("1420 Ocean Dr #3", "33139")
    assert lead.message == "Please send me the application, I can move in next month."
    assert lead.extra["zillow_rentals"] == {"move_in": "Jan 1, 2027"}  # "Not answered" dropped


# --- Zillow Premier Agent, Realtor.com, Homes.com, Redfin -------------------------------------


def test_zillow_premier_agent_buyer(team, run_queue):
    deliver("zillow__buyer.eml", "zillow.com", run_queue)

    lead = Lead.objects.select_related("contact").get()
    assert (lead.contact.first_name, lead.contact.email) == ("Jane", "jane.doe@example.com")
    assert lead.contact.phone == "+14075550155"
    assert lead.message == "I'd like to tour this home on Saturday morning."
    assert (lead.property_address, lead.property_city, lead.property_state, lead.property_zip) == (
        "1327 N Bumby Ave", "Orlando", "FL", "32803",
    )  # fmt: skip
    assert (lead.mls_number, lead.price) == ("O5380292", Decimal("219000.00"))
    assert lead.extra["zillow"] == {
        "tour_date": "Sat, Dec 5, 10:00 AM",
        "financing": "Pre-approved",
    }


def test_a_changed_zillow_template_fails_with_the_reason_and_replays_after_a_fix(team, run_queue):
    event = deliver("zillow__changed_template.eml", "zillow.com", run_queue)

    assert event.status == "failed"
    assert event.error.startswith("Zillow Premier Agent email: no email or phone found")
    assert not Lead.objects.exists()
    assert events_replay(events=[event]) == 1  # put back for the worker once fixed


def test_realtor_com_labels_with_the_address_on_the_lines_below(team, beach, bob, run_queue):
    deliver("realtor__labels.eml", "realtor.com", run_queue)

    lead = Lead.objects.select_related("contact").get()
    assert (lead.contact.first_name, lead.contact.last_name) == ("Rebecca", "Sutton")
    assert lead.contact.phone == "+18044777777"
    assert (lead.property_address, lead.property_city, lead.property_zip) == (
        "131 Leadstraining Ave", "Miami Beach", "33140",
    )  # fmt: skip
    assert (lead.mls_number, lead.price) == ("RS-TR-0031", Decimal("750000.00"))
    assert lead.message == "I would like a private showing."


def test_realtor_com_with_lead_metadata_reads_the_tags(team, run_queue):
    deliver("realtor__lead_metadata_in_body.eml", "realtor.com", run_queue)

    lead = Lead.objects.get()
    assert lead.extra["email"]["parser"] == "realtor"
    assert (lead.lead_type, lead.property_zip) == ("seller", "33134")


def test_homes_com_inquiry_to_an_agents_address_is_pinned_to_them(team, bob, run_queue):
    deliver("homes__inquiry.eml", "homes.com", run_queue)

    lead = Lead.objects.select_related("contact").get()
    assert lead.contact.email == "carla.gomez@example.net"
    assert lead.message == "Is the price negotiable?"
    assert (lead.property_city, lead.property_zip) == ("Bay Harbor Islands", "33154")
    assert lead.extra["homes"] == {"preferred_contact": "Text"}
    assert lead.pinned_agent == bob


def test_redfin_referral(team, run_queue):
    deliver("redfin__referral.eml", "redfin.com", run_queue)

    lead = Lead.objects.select_related("contact").get()
    assert (lead.contact.first_name, lead.contact.last_name) == ("Tom", "Nguyen")
    assert lead.contact.phone == "+19545550123"
    assert (lead.property_city, lead.property_zip) == ("Fort Lauderdale", "33301")
    assert lead.extra["redfin"] == {"tour_time": "Thursday 4:00 PM"}


def test_a_vendor_email_whose_vendor_did_not_authenticate_is_captured_flagged(team, run_queue):
    # Signed by someone, but not by Zillow: a look-alike.
    event = deliver("zillow__buyer.eml", "zillow-leads.example", run_queue)

    lead = Lead.objects.get()
    assert event.status == "processed"
    assert lead.source_detail.endswith("· sender not verified")
    assert lead.extra["email"]["sender_verified"] is False


# --- Forwards from an agent -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "first", "email", "phone", "words"),
    [
        (
            "forward__gmail.eml",
            "Kevin",
            "kevin.park@example.org",
            "+13055550166",
            "still available",
        ),
        ("forward__outlook.eml", "Linda", "linda.ortiz@example.com", "", "sell our home"),
        ("forward__apple_mail.eml", "Omar", "omar.haddad@example.com", "", "townhouse"),
        ("forward__attached.eml", "Nina", "nina.brooks@example.com", "+17865550110", "3 bedroom"),
    ],
)
def test_an_agents_forward_makes_the_original_sender_a_lead_pinned_to_the_agent(
    team, alice, bob, run_queue, fixture, first, email, phone, words
):
    deliver(fixture, "example.com", run_queue)

    lead = Lead.objects.select_related("contact").get()
    assert lead.contact.first_name == first
    assert (lead.contact.email, lead.contact.phone) == (email, phone)
    assert words in lead.message
    assert "Alice" not in lead.contact.first_name
    assert lead.pinned_agent == alice
    assert lead.extra["email"]["parser"] == "forward"
    assert lead.extra["forwarded_by"] == alice.pk


def test_a_forward_whose_agent_address_did_not_authenticate_is_not_pinned(team, alice, run_queue):
    deliver("forward__gmail.eml", "", run_queue)

    lead = Lead.objects.get()
    assert lead.pinned_agent is None
    assert lead.extra["email"]["sender_verified"] is False


def test_a_forward_from_someone_who_is_not_an_agent_is_read_as_their_own_email(team, run_queue):
    # No agent has alice@example.com here: it is a person writing to the team.
    deliver("forward__gmail.eml", "example.com", run_queue)

    lead = Lead.objects.select_related("contact").get()
    assert lead.extra["email"]["parser"] == "fallback"
    assert lead.contact.email == "alice@example.com"


# --- Realtor.com by API and by email: one lead -----------------------------------------------

REALTOR_KEY = "rdc-test-key-0123456789"


def post_realtor_api(client, settings) -> None:
    settings.REALTOR_API_KEY = REALTOR_KEY
    body = (FIXTURES.parent / "sources" / "realtor" / "lead__nested.json").read_bytes()
    response = client.post(
        "/hooks/realtor/", body, content_type="application/json", headers={"x-api-key": REALTOR_KEY}
    )
    assert response.status_code == 200


def test_a_realtor_lead_by_api_then_by_email_is_one_lead(team, client, settings, run_queue):
    post_realtor_api(client, settings)
    run_queue()
    api_lead = Lead.objects.get()
    assert api_lead.source == "realtor"

    event = deliver("realtor__twin_of_api.eml", "realtor.com", run_queue)

    assert event.status == "processed"
    assert event.lead == api_lead
    assert Lead.objects.count() == 1


def test_a_realtor_lead_by_email_then_by_api_is_one_lead_filled_in(
    team, client, settings, run_queue
):
    deliver("realtor__twin_of_api.eml", "realtor.com", run_queue)
    email_lead = Lead.objects.get()
    assert (email_lead.source, email_lead.page_url) == ("email", "")

    post_realtor_api(client, settings)
    run_queue()

    assert Lead.objects.count() == 1
    email_lead.refresh_from_db()
    assert email_lead.page_url.startswith("https://www.realtor.com/")  # what only the API had
    assert "realtor" in email_lead.extra
    api_event = InboundEvent.objects.get(source="realtor")
    assert (api_event.status, api_event.lead) == ("processed", email_lead)


def test_an_unverified_realtor_email_is_not_merged_with_the_api_lead(
    team, client, settings, run_queue
):
    post_realtor_api(client, settings)
    run_queue()

    deliver("realtor__twin_of_api.eml", "", run_queue)

    assert Lead.objects.count() == 2  # a look-alike cannot attach itself to the real lead
