"""Leads sent through the REST API: stored raw, parsed on the queue, routed like any source."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client

from integrations.intake.models import InboundEvent
from integrations.intake.services import event_store
from leads.models import Activity, Consent, Lead
from leads.services import api_token_create

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "api"
URL = "/api/v1/leads/"

pytestmark = pytest.mark.django_db


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def token(alice) -> str:
    return api_token_create(user=alice.user, name="Open house tablet")[1]


def send(client: Client, token: str, body: bytes, key: str | None = None):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(URL, body, content_type="application/json", headers=headers)


def test_a_lead_sent_in_is_stored_raw_then_captured_and_routed_by_zip(
    client, token, beach, alice, run_queue
):
    response = send(client, token, fixture("lead__full.json"), key="sheet-0001")

    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert bytes(event.body) == fixture("lead__full.json")
    assert (event.source, event.status) == ("api", "received")
    assert response.json()["id"] == str(event.public_id)
    assert response["Location"] == response.json()["status_url"]

    run_queue()

    lead = Lead.objects.select_related("contact").get()
    assert lead.source == "api"
    assert lead.source_detail == "Open house sign-in, 1500 Collins Ave"
    assert lead.raw_event_id == event.pk
    assert (lead.contact.email, lead.contact.phone) == (
        "dana.whitfield@example.com",
        "+13055550188",
    )
    assert (lead.property_zip, lead.property_state, lead.price) == (
        "33139",
        "FL",
        Decimal("875000"),
    )
    assert lead.assigned_agent == alice  # Miami Beach's round robin starts with Alice
    consents = {c.channel: c.granted for c in Consent.objects.filter(lead=lead)}
    assert consents == {"call": True, "sms": True, "marketing_email": False}
    assert Activity.objects.filter(lead=lead, kind="received").exists()


def test_the_status_url_tells_what_became_of_the_request(client, token, beach, run_queue):
    sent = send(client, token, fixture("lead__phone_only.json")).json()
    assert (sent["status"], sent["lead"]) == ("received", None)

    run_queue()
    status = client.get(sent["status_url"], headers={"Authorization": f"Bearer {token}"}).json()

    lead = Lead.objects.get()
    assert (status["status"], status["lead"], status["error"]) == ("processed", lead.pk, "")
    assert lead.contact.phone == "+13055550199"
    assert lead.lead_type == "seller"


def test_the_status_url_is_only_for_the_sender(client, token, bob, run_queue):
    sent = send(client, token, fixture("lead__phone_only.json")).json()
    bobs = api_token_create(user=bob.user, name="bob")[1]

    response = client.get(sent["status_url"], headers={"Authorization": f"Bearer {bobs}"})

    assert response.status_code == 404


def test_the_same_idempotency_key_twice_gives_one_lead_and_the_same_answer(
    client, token, beach, run_queue
):
    first = send(client, token, fixture("lead__full.json"), key="sheet-0002")
    run_queue()
    second = send(client, token, fixture("lead__full.json"), key="sheet-0002")
    run_queue()

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert InboundEvent.objects.count() == 1
    assert Lead.objects.count() == 1


def test_a_reused_idempotency_key_with_another_body_is_a_conflict(client, token):
    send(client, token, fixture("lead__full.json"), key="sheet-0003")

    response = send(client, token, fixture("lead__phone_only.json"), key="sheet-0003")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert InboundEvent.objects.count() == 1


def test_idempotency_keys_belong_to_their_user(client, token, bob, beach, run_queue):
    bobs = api_token_create(user=bob.user, name="bob")[1]

    send(client, token, fixture("lead__full.json"), key="same-key")
    send(client, bobs, fixture("lead__phone_only.json"), key="same-key")
    run_queue()

    assert Lead.objects.count() == 2


def test_a_lead_without_email_or_phone_is_refused_naming_the_field(client, token):
    response = send(client, token, fixture("lead__no_contact.json"))

    assert response.status_code == 400
    assert response.json()["fields"] == {"email": ["Give an email address or a phone."]}
    assert not InboundEvent.objects.exists()


def test_invalid_fields_are_each_named_and_nothing_is_stored(client, token):
    response = send(client, token, fixture("lead__invalid_fields.json"))

    body = response.json()
    assert response.status_code == 400
    assert (body["status"], body["code"]) == (400, "invalid")
    assert set(body["fields"]) == {
        "email", "phone", "lead_type", "property_zip", "price", "consents.0.channel",
        "consents.0.text",
    }  # fmt: skip
    assert "lead_type" in body["message"]
    assert not InboundEvent.objects.exists()


def test_a_body_that_is_not_json_is_a_clear_400(client, token):
    response = send(client, token, fixture("lead__malformed.json"))

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not InboundEvent.objects.exists()


def test_a_bad_idempotency_key_is_named(client, token):
    response = send(client, token, fixture("lead__full.json"), key="has spaces in it")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["Idempotency-Key"]


def test_a_stored_request_that_no_longer_validates_fails_with_the_reason(team, alice, run_queue):
    stored = event_store(
        source="api",
        body=fixture("lead__invalid_fields.json"),
        content_type="application/json",
        meta={"team_id": team.pk, "user_id": alice.user.pk},
    )
    run_queue()

    stored.event.refresh_from_db()
    assert stored.event.status == "failed"
    assert "lead_type" in stored.event.error
    assert not Lead.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_idempotency_key_sent_twice_at_once_gives_one_lead(alice, beach, run_queue):
    raw = api_token_create(user=alice.user, name="race")[1]
    body = fixture("lead__full.json")
    barrier = threading.Barrier(4)
    answers: list[tuple[int, dict, str]] = []

    def post() -> None:
        try:
            barrier.wait()
            response = send(Client(), raw, body, key="at-once-0001")
            replayed = response.headers.get("Idempotent-Replayed", "")
            answers.append((response.status_code, response.json(), replayed))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_queue()

    assert [status for status, _, _ in answers] == [202] * 4
    assert len({json.dumps(body, sort_keys=True) for _, body, _ in answers}) == 1
    assert sorted(replayed for _, _, replayed in answers) == ["", "true", "true", "true"]
    assert InboundEvent.objects.filter(source="api").count() == 1
    assert Lead.objects.count() == 1
