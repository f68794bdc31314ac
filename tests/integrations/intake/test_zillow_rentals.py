"""Zillow Rentals lead callback: the path's secret, form bodies, the renter profile, dedupe."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import OperationalError
from django.test import Client, override_settings

from integrations.intake.models import InboundEvent
from leads.models import Lead

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "zillow_rentals"
TOKEN = "zr-7Qm2xV9kP4sL8nB3"
URL = f"/hooks/zillow-rentals/{TOKEN}/"
FORM = "application/x-www-form-urlencoded; charset=utf-8"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rentals_token")]


@pytest.fixture
def rentals_token(settings):
    settings.ZILLOW_RENTALS_TOKEN = TOKEN


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def call_back(client: Client, body: bytes, url: str = URL):
    return client.post(url, body, content_type=FORM)


# --- Accepted callbacks -----------------------------------------------------------------------


def test_a_callback_is_stored_raw_answered_200_and_becomes_a_renter_lead(
    client, beach, alice, run_queue
):
    response = call_back(client, fixture("callback__full_profile.txt"))

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert response.json() == {"status": "received", "id": str(event.public_id)}
    assert bytes(event.body) == fixture("callback__full_profile.txt")
    assert (event.source, event.status) == ("zillow_rentals", "received")
    assert event.external_id.startswith("sha256:")
    assert not Lead.objects.exists()

    run_queue()

    lead = Lead.objects.select_related("contact").get()
    event.refresh_from_db()
    assert (event.status, event.lead) == ("processed", lead)
    assert (lead.source, lead.external_id) == ("zillow_rentals", event.external_id)
    assert lead.lead_type == "renter"
    assert lead.source_detail == "Listing mb-6301-1204"
    assert (lead.contact.first_name, lead.contact.last_name) == ("Priya", "Shah")
    assert (lead.contact.email, lead.contact.phone) == ("priya.shah@example.com", "+13055550171")
    assert lead.message == "Is the studio still available? I would like to see it this week."
    assert (lead.property_address, lead.property_city, lead.property_state, lead.property_zip) == (
        "6301 Collins Ave #1204",
        "Miami Beach",
        "FL",
        "33140",
    )
    assert lead.assigned_agent == alice  # 33140 is Miami Beach
    assert lead.extra["zillow_rentals"] == {
        "listing_id": "mb-6301-1204",
        "lead_type": "question",
        "move_in_date": "2026-12-15",
        "bedrooms": 0,  # a studio
        "bathrooms": 1.0,
        "income_yearly": 84000.0,
        "credit_score_min": 720,
        "credit_score_max": 759,
        "has_pets": True,
        "pet_details": [{"type": "cat", "count": 1}],
        "lease_length_months": "12",
        "move_in_timeframe": "month",
        "moving_from_city": "Orlando",
        "moving_from_state": "FL",
        "reason_for_moving": "New job",
        "employment_status": "employed",
        "job_title": "Registered Nurse",
        "employer": "Mount Sinai Medical Center",
        "employment_start_date": "2026-12-01",
        "employment_details": {"monthlyIncome": 7000},
        "parking_type_desired": "garage",
        "smoker": "false",
        "introduction": "Nurse at Mount Sinai, non-smoker.",
        "listing_contact_email": "leasing@sunrise.example",
        "provider_model_id": "zrm-8841",
        "neighborhoods": ["North Beach", "Mid-Beach"],
        "property_types_desired": ["condo", "apartment"],
        "phone_as_sent": "(305) 555-0171 x204",
    }


def test_listing_id_and_email_alone_are_enough(client, run_queue):
    assert call_back(client, fixture("callback__minimal.txt")).status_code == 200
    run_queue()

    lead = Lead.objects.select_related("contact").get()
    assert lead.contact.email == "kai.nakamura@example.com"
    assert (lead.contact.first_name, lead.contact.phone, lead.message) == ("", "", "")
    assert lead.extra["zillow_rentals"] == {"listing_id": "mb-6301-1204"}


def test_the_live_capture_shape_gives_a_tour_request_with_its_profile(client, beach, run_queue):
    call_back(client, fixture("callback__live_capture.txt"))
    run_queue()

    lead = Lead.objects.get()
    profile = lead.extra["zillow_rentals"]
    assert profile["lead_type"] == "tour"  # hasTourRequest=yes
    assert (profile["move_in_date"], profile["bedrooms"], profile["occupants"]) == (
        "2027-01-05",
        2,
        "3",
    )
    assert profile["has_pets"] is False
    assert "bathrooms" not in profile  # sent empty
    assert profile["global_listing_id"] == "2a3b4c5d6e7f"
    assert lead.property_address == "1500 Collins Ave Apt 804"
    assert lead.assigned_agent is not None


def test_the_documented_example_is_read(client, run_queue):
    call_back(client, fixture("callback__documented_example.txt"))
    run_queue()

    lead = Lead.objects.select_related("contact").get()
    assert (lead.contact.first_name, lead.contact.last_name) == ("Rachel", "Lee")
    assert lead.property_address == "246 Tennessee Avenue #C102"
    assert (lead.property_city, lead.property_state, lead.property_zip) == (
        "Sunnyvale",
        "CA",
        "94086",
    )
    profile = lead.extra["zillow_rentals"]
    assert (profile["lead_type"], profile["move_in_date"], profile["bedrooms"]) == (
        "tour",
        "2016-09-26",
        3,
    )
    assert lead.assigned_agent is None  # no team covers Sunnyvale: nobody to route to


def test_the_same_inquiry_sent_again_differently_spelled_is_one_lead(client, run_queue):
    first = call_back(client, fixture("callback__documented_example.txt"))
    run_queue()
    again = call_back(client, fixture("callback__duplicate.txt"))
    run_queue()

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["id"] == first.json()["id"]
    assert InboundEvent.objects.count() == 1
    assert Lead.objects.count() == 1


def test_a_different_question_about_the_same_listing_is_a_new_lead(client, run_queue):
    call_back(client, fixture("callback__minimal.txt"))
    call_back(client, fixture("callback__minimal.txt") + b"&message=Is+parking+included%3F")
    run_queue()

    assert Lead.objects.count() == 2
    assert Lead.objects.values("contact").distinct().count() == 1  # the same renter


# --- Refused ----------------------------------------------------------------------------------


def test_a_wrong_token_is_a_404_and_nothing_is_stored(client):
    response = call_back(
        client,
        fixture("callback__documented_example.txt"),
        url="/hooks/zillow-rentals/zr-7Qm2xV9kP4sL8nB4/",
    )
    assert response.status_code == 404
    assert not InboundEvent.objects.exists()


@override_settings(ZILLOW_RENTALS_TOKEN="")
def test_without_a_configured_token_the_source_is_off(client):
    response = call_back(client, fixture("callback__minimal.txt"), url="/hooks/zillow-rentals/x/")
    assert response.status_code == 404
    assert not InboundEvent.objects.exists()


def test_only_post_delivers(client):
    assert client.get(URL).status_code == 405
    assert not InboundEvent.objects.exists()


def test_a_huge_body_is_refused_413(client):
    body = fixture("callback__minimal.txt") + b"&message=" + b"x" * 70_000
    assert call_back(client, body).status_code == 413
    assert not InboundEvent.objects.exists()


# --- Authentic but unreadable: stored as failed, answered 400 ----------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("callback__no_email.txt", "email: missing"),
        ("callback__no_listing.txt", "listingId: missing"),
        ("callback__json_body.txt", "listingId, email: missing"),
        ("callback__empty.txt", "listingId, email: missing"),
        ("callback__not_utf8.txt", "not UTF-8 form data"),
    ],
)
def test_an_unreadable_callback_is_kept_as_failed_and_answered_400(client, run_queue, name, reason):
    response = call_back(client, fixture(name))

    assert response.status_code == 400
    assert reason in response.json()["message"]
    event = InboundEvent.objects.get()
    assert (event.source, event.status) == ("zillow_rentals", "failed")
    assert reason in event.error
    assert bytes(event.body) == fixture(name)
    assert run_queue() == 0
    assert not Lead.objects.exists()


def test_a_callback_that_cannot_be_stored_is_answered_503_so_zillow_retries(client, monkeypatch):
    def database_down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(InboundEvent.objects, "create", database_down)

    response = call_back(client, fixture("callback__minimal.txt"))

    assert response.status_code == 503
    assert response["Retry-After"] == "60"
