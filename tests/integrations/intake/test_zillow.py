"""Zillow Premier Agent over Amazon SNS: Basic auth, SNS signatures, the handshake, the leads.

Amazon signs with a key we do not have, so the tests make their own RSA key and self-signed
certificate, sign each fixture envelope with it, and serve the certificate at the fixture's
SigningCertURL by intercepting ``integrations.lib.http.request``, the one seam for outbound HTTP.
The string to sign is built here from AWS's documentation, independently of the code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core import mail
from django.test import Client, override_settings

from integrations.intake.models import InboundEvent, SourceAgentId
from integrations.intake.sources.zillow import sns_url_allowed
from integrations.lib import http
from leads.models import Activity, Lead, RoutingDecision
from tests.integrations.sns import sns_signing_key

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "zillow"
URL = "/hooks/zillow/"
TOPIC = "arn:aws:sns:us-east-1:324733501228:zillow-tech-connect-leadline"
CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/"
    "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
)
CREDENTIALS = "zillow:s3cret-Basic-pass"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("zillow_settings")]


@pytest.fixture
def zillow_settings(settings):
    settings.ZILLOW_BASIC_AUTH = CREDENTIALS
    settings.ZILLOW_TOPIC_ARNS = [TOPIC]
    settings.ADMINS = [("Operations", "ops@sunrise.example")]


@pytest.fixture(scope="session")
def signing_key() -> tuple[rsa.RSAPrivateKey, bytes]:
    """Our stand-in for Amazon's SNS signing key and its self-signed certificate (PEM)."""
    return sns_signing_key()


class FakeOutside:
    """What ``integrations.lib.http.request`` reaches in these tests: Amazon's certificate and
    subscription-confirmation endpoints, answering only the exact URLs they serve."""

    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.calls: list[tuple[str, str]] = []
        self.certificate_down = False

    def __call__(self, method: str, url: str, **kwargs) -> requests.Response:
        self.calls.append((method, url))
        if url == CERT_URL and not self.certificate_down:
            return self.response(200, self.pem)
        if url.startswith("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&"):
            return self.response(200, b"<ConfirmSubscriptionResponse/>")
        if url == CERT_URL:
            raise http.HttpError("sns.us-east-1.amazonaws.com answered 503", permanent=False)
        raise http.HttpError("not found", permanent=True, status=404)

    @staticmethod
    def response(status: int, content: bytes) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = content
        return response


@pytest.fixture
def outside(monkeypatch, signing_key) -> FakeOutside:
    fake = FakeOutside(signing_key[1])
    monkeypatch.setattr(http, "request", fake)
    return fake


def aws_string_to_sign(envelope: dict) -> bytes:
    """As docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html describes."""
    if envelope["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{n}\n{envelope[n]}\n" for n in names if n in envelope).encode()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def signed(signing_key) -> Callable[..., bytes]:
    """The fixture's envelope, changed as asked, signed with the test key as SNS would."""

    def sign(name: str, **changes: str) -> bytes:
        envelope = {**json.loads(fixture(name)), **changes}
        sha1 = hashes.SHA1()  # noqa: S303 - SNS SignatureVersion 1 is SHA1withRSA
        digest = hashes.SHA256() if envelope["SignatureVersion"] == "2" else sha1
        raw = signing_key[0].sign(aws_string_to_sign(envelope), padding.PKCS1v15(), digest)
        envelope["Signature"] = base64.b64encode(raw).decode()
        return json.dumps(envelope).encode()

    return sign


def deliver(client: Client, body: bytes, credentials: str | None = CREDENTIALS, **headers):
    """POST as SNS does: text/plain JSON, the message type header, the URL's Basic auth."""
    try:
        kind = json.loads(body)["Type"]
    except (ValueError, KeyError):
        kind = "Notification"
    sent = {"x-amz-sns-message-type": kind, **headers}
    if credentials is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return client.post(URL, body, content_type="text/plain; charset=UTF-8", headers=sent)


# --- A lead, end to end -----------------------------------------------------------------------


def test_a_signed_notification_is_stored_raw_answered_200_and_captured_by_the_worker(
    client, outside, signed, beach, alice, run_queue
):
    body = signed("notification__lead.json")
    response = deliver(client, body)

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert response.json() == {"status": "received", "id": str(event.public_id)}
    assert bytes(event.body) == body
    assert (event.source, event.external_id, event.status) == (
        "zillow",
        "7e769699-9d8a-5a80-a063-d9ce36aebc45",
        "received",
    )
    assert event.headers["x-amz-sns-message-type"] == "Notification"
    assert "authorization" not in event.headers  # the credentials are never stored
    assert event.meta["communication_guid"] == "6681937264150028431"
    assert outside.calls == [("GET", CERT_URL)]
    assert not Lead.objects.exists()

    run_queue()

    lead = Lead.objects.select_related("contact").get()
    event.refresh_from_db()
    assert (event.status, event.lead) == ("processed", lead)
    assert (lead.source, lead.external_id) == ("zillow", "6681937264150028431")
    assert lead.source_detail == "Premier Agent · buyer"
    assert (lead.contact.first_name, lead.contact.last_name) == ("Jordan", "Ellis")
    assert (lead.contact.email, lead.contact.phone) == ("jordan.ellis@example.com", "+13055550123")
    assert lead.message.startswith("I am interested in 6301 Collins Ave #1204.")
    assert (lead.property_address, lead.property_city, lead.property_state, lead.property_zip) == (
        "6301 Collins Ave #1204",
        "Miami Beach",
        "FL",
        "33139",
    )
    assert (lead.mls_number, lead.price, lead.lead_type) == (
        "A11489321",
        Decimal("689000.00"),
        "buyer",
    )
    assert lead.page_url.endswith("/44012345_zpid/")
    assert lead.assigned_agent == alice  # no agent of ours is Zillow's: routed by ZIP
    assert lead.pinned_agent is None
    zillow = lead.extra["zillow"]
    assert zillow["zpid"] == "44012345"
    assert zillow["client_guid"] == "7305519284412095531"
    assert zillow["partner_agent_identifier"] == "sunrise-realty-17"
    assert zillow["contact_at"] == "2026-11-28T09:14:00-05:00"
    assert (zillow["beds"], zillow["baths"], zillow["listing_status"]) == ("2", "2.0", "For Sale")


def test_signature_version_2_sha256withrsa_is_accepted(client, outside, signed, run_queue):
    response = deliver(client, signed("notification__signature_v2.json"))
    assert response.status_code == 200
    run_queue()
    assert Lead.objects.get().external_id == "6681937264150028999"


def test_the_signing_certificate_is_fetched_once_and_then_cached(client, outside, signed):
    deliver(client, signed("notification__lead.json"))
    deliver(client, signed("notification__signature_v2.json"))
    assert outside.calls == [("GET", CERT_URL)]
    assert InboundEvent.objects.count() == 2


def test_a_message_with_a_subject_signs_the_subject_too(
    client, outside, signed, bob, beach, run_queue
):
    body = json.loads(signed("notification__assigned.json"))
    assert body["Subject"] == "New Zillow contact"
    assert deliver(client, json.dumps(body).encode()).status_code == 200
    body["Subject"] = "Changed in transit"
    assert deliver(client, json.dumps(body).encode()).status_code == 403


# --- Forged, unsigned, foreign: refused and stored nowhere -------------------------------------


def test_a_bad_signature_is_403_and_nothing_is_stored(client, outside):
    response = deliver(client, fixture("notification__bad_signature.json"))
    assert response.status_code == 403
    assert "Signature" in response.json()["message"]
    assert not InboundEvent.objects.exists()


def test_a_message_changed_after_signing_is_403(client, outside, signed):
    envelope = json.loads(signed("notification__lead.json"))
    envelope["Message"] = envelope["Message"].replace("Jordan Ellis", "Mallory Forger")
    response = deliver(client, json.dumps(envelope).encode())
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_an_unsigned_message_is_403_and_nothing_is_stored(client, outside):
    response = deliver(client, fixture("notification__unsigned.json"))
    assert response.status_code == 403
    assert "SignatureVersion" in response.json()["message"]
    assert not InboundEvent.objects.exists()
    assert outside.calls == []


def test_a_signed_message_of_another_topic_is_403_and_no_certificate_is_fetched(
    client, outside, signed
):
    response = deliver(client, signed("notification__wrong_topic.json"))
    assert response.status_code == 403
    assert "TopicArn" in response.json()["message"]
    assert not InboundEvent.objects.exists()
    assert outside.calls == []


def test_a_certificate_url_off_amazon_is_refused_without_fetching_it(client, outside, signed):
    response = deliver(client, signed("notification__foreign_cert_url.json"))
    assert response.status_code == 403
    assert "SigningCertURL" in response.json()["message"]
    assert not InboundEvent.objects.exists()
    assert outside.calls == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        (CERT_URL, True),
        ("https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
        ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem", False),
        ("https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/cert.pem", False),
        ("https://evil.example/sns.us-east-1.amazonaws.com/cert.pem", False),
        ("https://sns.evil.amazonaws.com.example/cert.pem", False),
        ("https://s3.us-east-1.amazonaws.com/bucket/cert.pem", False),
        ("https://sns.us-east-1.amazonaws.com/cert.txt", False),
        ("https://sns.us-east-1.amazonaws.com/cert.pem#x", False),
        ("https://SNS.US-EAST-1.AMAZONAWS.COM/cert.pem", False),
        ("https://sns.us-east-1.amazonaws.com\\@evil.example/cert.pem", False),
    ],
)
def test_only_amazon_sns_certificate_urls_are_allowed(url, allowed):
    assert sns_url_allowed(url, path_suffix=".pem") is allowed


def test_without_basic_credentials_sns_is_challenged_with_401(client, outside, signed):
    response = deliver(client, signed("notification__lead.json"), credentials=None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic realm=")
    assert not InboundEvent.objects.exists()
    assert outside.calls == []


def test_wrong_basic_credentials_are_401(client, outside, signed):
    response = deliver(client, signed("notification__lead.json"), credentials="zillow:guess")
    assert response.status_code == 401
    assert not InboundEvent.objects.exists()


@override_settings(ZILLOW_BASIC_AUTH="")
def test_without_credentials_configured_the_source_is_off(client, outside, signed):
    response = deliver(client, signed("notification__lead.json"), credentials="")
    assert response.status_code == 404
    assert "ZILLOW_BASIC_AUTH" in response.json()["message"]
    assert not InboundEvent.objects.exists()


def test_a_certificate_that_cannot_be_fetched_now_is_503_so_sns_retries(client, outside, signed):
    outside.certificate_down = True
    response = deliver(client, signed("notification__lead.json"))
    assert response.status_code == 503
    assert not InboundEvent.objects.exists()


def test_a_message_type_header_that_disagrees_with_the_message_is_400(client, outside, signed):
    body = signed("notification__lead.json")
    response = deliver(client, body, **{"x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("name", ["notification__malformed.txt", "notification__empty.txt"])
def test_a_body_that_is_not_an_sns_message_is_400_and_stored_nowhere(client, outside, name):
    response = deliver(client, fixture(name))
    assert response.status_code == 400
    assert "SNS message" in response.json()["message"]
    assert not InboundEvent.objects.exists()


def test_a_huge_body_is_413(client, outside):
    response = deliver(client, b'{"Type": "Notification", "Message": "' + b"x" * 300_000 + b'"}')
    assert response.status_code == 413
    assert not InboundEvent.objects.exists()


# --- Authentic but unreadable: stored as failed, answered 400 ----------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("notification__malformed_message.json", "Message: not valid JSON"),
        ("notification__no_contact.json", "neither ContactEmail nor a valid ContactPhone"),
    ],
)
def test_a_signed_message_whose_lead_cannot_be_read_is_kept_as_failed_and_400(
    client, outside, signed, run_queue, name, reason
):
    body = signed(name)
    response = deliver(client, body)

    assert response.status_code == 400
    assert reason in response.json()["message"]
    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.body)) == ("failed", body)
    assert reason in event.error
    assert run_queue() == 0
    assert not Lead.objects.exists()


# --- Duplicates, updates and reassignments -----------------------------------------------------


def test_an_sns_retry_of_the_same_message_is_200_and_one_lead(client, outside, signed, run_queue):
    body = signed("notification__lead.json")
    first, again = deliver(client, body), deliver(client, body)
    run_queue()

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["id"] == first.json()["id"]
    assert InboundEvent.objects.count() == 1
    assert Lead.objects.count() == 1


def test_a_second_notification_of_the_same_inquiry_makes_no_second_lead(
    client, outside, signed, beach, run_queue
):
    deliver(client, signed("notification__lead.json"))
    deliver(client, signed("notification__same_inquiry.json"))
    run_queue()

    assert InboundEvent.objects.count() == 2  # two SNS messages, both kept
    lead = Lead.objects.get()
    assert set(InboundEvent.objects.values_list("lead", flat=True)) == {lead.pk}
    assert not Activity.objects.filter(lead=lead, kind="source_update").exists()


def test_search_criteria_place_a_lead_without_a_listing_and_null_strings_are_empty(
    client, outside, signed, beach, alice, run_queue
):
    deliver(client, signed("notification__search_criteria.json"))
    run_queue()

    lead = Lead.objects.select_related("contact").get()
    assert (lead.contact.first_name, lead.contact.last_name) == ("Sam", "Rivera")
    assert (lead.contact.email, lead.contact.phone) == ("", "+13055550142")
    assert (lead.message, lead.property_address, lead.mls_number, lead.price) == ("", "", "", None)
    assert (lead.property_city, lead.property_state, lead.property_zip) == (
        "Miami Beach",
        "FL",
        "33140",
    )
    assert lead.lead_type == "buyer"
    assert lead.assigned_agent == alice
    assert lead.extra["zillow"]["search_criteria"] == {
        "City": "Miami Beach",
        "State": "FL",
        "ZIP": "33140",
        "MinBeds": "2",
        "MinBaths": "1.5",
        "MinPrice": "400000",
        "MaxPrice": "750000",
        "PropertyTypes": "Condo,Townhouse",
    }
    assert "assignee" not in lead.extra["zillow"]  # every value was "null"
    assert lead.extra["zillow"]["is_connected"] is True


def test_the_zillow_assignee_pins_the_lead_to_our_agent_despite_the_misspelled_key(
    client, outside, signed, beach, alice, bob, run_queue
):
    SourceAgentId.objects.create(agent=bob, source="zillow", external_id="bob@sunrise.example")

    deliver(client, signed("notification__assigned.json"))
    run_queue()

    lead = Lead.objects.get()
    assert (lead.pinned_agent, lead.assigned_agent) == (bob, bob)  # not Alice's turn by ZIP
    assert lead.team == bob.team
    assert lead.extra["zillow"]["assignee"]["ZillowAssigneeName"] == "Bob Agent"


def test_partner_agent_identifier_pins_the_lead_when_no_assignee_is_named(
    client, outside, signed, beach, alice, bob, run_queue
):
    SourceAgentId.objects.create(agent=bob, source="zillow", external_id="sunrise-realty-17")

    deliver(client, signed("notification__lead.json"))
    run_queue()

    assert Lead.objects.get().assigned_agent == bob


def test_an_update_fills_in_the_earlier_lead_and_its_timeline(
    client, outside, signed, beach, run_queue
):
    deliver(client, signed("notification__search_criteria.json"))
    run_queue()
    deliver(client, signed("notification__update.json"))
    run_queue()

    lead = Lead.objects.select_related("contact").get()  # still one lead
    assert lead.external_id == "6681937264150031170"
    assert (lead.property_address, lead.mls_number, lead.price) == (
        "1500 Collins Ave #804",
        "A11500123",
        Decimal("719000.00"),
    )
    assert lead.message == "Found one I like: 1500 Collins Ave #804."
    assert lead.property_zip == "33140"  # known before: kept
    assert lead.contact.email == "sam.rivera@example.com"
    assert lead.extra["zillow"]["update"] is True
    update = Activity.objects.get(lead=lead, kind="source_update")
    assert update.summary.startswith("Updated via zillow: filled message, property_address")
    assert InboundEvent.objects.filter(lead=lead).count() == 2


def test_an_update_under_another_inquiry_id_finds_the_lead_by_the_persons_client_guid(
    client, outside, signed, beach, run_queue
):
    deliver(client, signed("notification__search_criteria.json"))
    run_queue()
    update = json.loads(fixture("notification__update.json"))
    message = json.loads(update["Message"])
    message["ContactMessage"]["ContactInfo"]["CommunicationGUID"] = "6681937264150099999"
    deliver(client, signed("notification__update.json", Message=json.dumps(message)))
    run_queue()

    lead = Lead.objects.get()
    assert (lead.external_id, lead.mls_number) == ("6681937264150031170", "A11500123")


def test_an_update_of_an_inquiry_never_seen_is_captured_as_a_new_lead(
    client, outside, signed, run_queue
):
    deliver(client, signed("notification__update.json"))
    run_queue()
    lead = Lead.objects.get()
    assert (lead.external_id, lead.mls_number) == ("6681937264150031170", "A11500123")


def test_a_reassignment_repins_and_hands_the_lead_to_the_new_agent(
    client, outside, signed, beach, alice, bob, run_queue
):
    SourceAgentId.objects.create(agent=bob, source="zillow", external_id="bob@sunrise.example")
    deliver(client, signed("notification__lead.json"))
    run_queue()
    assert Lead.objects.get().assigned_agent == alice

    deliver(client, signed("notification__reassignment.json"))
    run_queue()

    lead = Lead.objects.get()
    assert (lead.pinned_agent, lead.assigned_agent, lead.status) == (bob, bob, "new")
    assert lead.sla_due_at is not None
    assert Activity.objects.filter(lead=lead, kind="source_update", summary__contains="Bob")
    decision = RoutingDecision.objects.get(lead=lead, kind="manual")
    assert decision.agent == bob
    assert "zillow assigned the lead to Bob" in decision.reason


def test_a_reassignment_to_someone_who_is_not_our_agent_changes_no_assignment(
    client, outside, signed, beach, alice, run_queue
):
    deliver(client, signed("notification__lead.json"))
    run_queue()
    deliver(client, signed("notification__reassignment.json"))
    run_queue()

    lead = Lead.objects.get()
    assert (lead.pinned_agent, lead.assigned_agent) == (None, alice)
    assert lead.extra["zillow"]["assignee"]["ZillowAssigneeName"] == "Bob Agent"
    assert Activity.objects.filter(lead=lead, kind="source_update").count() == 1


def test_operations_set_an_agents_zillow_identifier_in_the_admin(admin_client, bob):
    page = admin_client.get(f"/admin/leads/agent/{bob.pk}/change/").content.decode()
    assert 'name="source_ids-0-external_id"' in page
    SourceAgentId.objects.create(agent=bob, source="zillow", external_id="bob@sunrise.example")
    found = admin_client.get("/admin/leads/agent/?q=bob@sunrise.example").context["cl"]
    assert list(found.result_list) == [bob]


# --- The subscription handshake ----------------------------------------------------------------


def test_a_subscription_confirmation_for_our_topic_is_confirmed_by_the_worker(
    client, outside, signed, run_queue
):
    response = deliver(client, signed("subscription_confirmation__our_topic.json"))
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.meta["type"] == "SubscriptionConfirmation"
    assert outside.calls == [("GET", CERT_URL)]  # nothing confirmed at the door

    run_queue()

    subscribe_url = json.loads(fixture("subscription_confirmation__our_topic.json"))["SubscribeURL"]
    assert outside.calls[1:] == [("GET", subscribe_url)]
    event.refresh_from_db()
    assert (event.status, event.error) == ("ignored", "")  # done, and no lead in it
    assert not Lead.objects.exists()


def test_a_subscription_confirmation_for_another_topic_is_refused_and_never_confirmed(
    client, outside, signed, run_queue
):
    response = deliver(client, signed("subscription_confirmation__unknown_topic.json"))
    run_queue()
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()
    assert outside.calls == []


def test_an_unsubscribe_confirmation_is_recorded_and_operations_are_told(
    client, outside, signed, run_queue
):
    response = deliver(client, signed("unsubscribe_confirmation__our_topic.json"))
    assert response.status_code == 200
    run_queue()

    event = InboundEvent.objects.get()
    assert (event.meta["type"], event.status) == ("UnsubscribeConfirmation", "ignored")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@sunrise.example"]
    assert "unsubscribed" in message.subject
    assert TOPIC in message.body
    assert event.get_absolute_url() in message.body
    assert outside.calls == [("GET", CERT_URL)]  # nothing is confirmed or re-subscribed
