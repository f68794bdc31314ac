"""Facebook Lead Ads: the signed webhook, the Graph API read on the queue, errors, backfill.

The Graph API is a real HTTP server on a local port (``graph_server.GraphServer``) speaking
Facebook's shapes; ``FACEBOOK_GRAPH_API_URL`` points at it.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.intake.models import FacebookPage, InboundEvent
from integrations.intake.services import events_sweep
from integrations.intake.sources.facebook.backfill import facebook_backfill
from integrations.intake.sources.facebook.pages import facebook_page_set_token
from integrations.lib.encryption import DecryptionError
from leads.models import Consent, Lead, Team

from .graph_server import GraphServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "facebook"
URL = "/hooks/facebook/"
APP_SECRET = "facebook-app-secret-for-tests"
VERIFY_TOKEN = "meatyhamhock"
PAGE_TOKEN = "EAAB-page-token-for-tests"
PAGE_ID = "516540199134611"
FORM_ID = "551111744595541"
OTHER_FORM_ID = "551111744595542"

pytestmark = pytest.mark.django_db


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture(name))
    return data


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client: Client, body: bytes, signature: str | None = None):
    headers = {"X-Hub-Signature-256": sign(body) if signature is None else signature}
    return client.post(URL, body, content_type="application/json", headers=headers)


@pytest.fixture(autouse=True)
def _facebook_settings(settings) -> None:
    settings.FACEBOOK_APP_SECRET = APP_SECRET
    settings.FACEBOOK_VERIFY_TOKEN = VERIFY_TOKEN
    settings.FACEBOOK_GRAPH_API_VERSION = "v25.0"
    settings.ADMINS = [("Ops", "ops@example.com")]


@pytest.fixture
def graph(settings) -> Iterator[GraphServer]:
    """The Graph API with the page's token, its two forms and the leads of the fixtures."""
    with GraphServer(APP_SECRET) as server:
        settings.FACEBOOK_GRAPH_API_URL = server.url
        state = server.state
        state.tokens.add(PAGE_TOKEN)
        for name in ("lead__full.json", "lead__first_and_last_name.json", "lead__no_contact.json"):
            lead = fixture_json(name)
            state.objects[lead["id"]] = lead
        for name in ("form__disclaimer.json", "form__no_disclaimer.json"):
            form = fixture_json(name)
            state.objects[form["id"]] = form
        state.page_forms[PAGE_ID] = [FORM_ID, OTHER_FORM_ID]
        yield server


@pytest.fixture
def page(team: Team) -> FacebookPage:
    page = FacebookPage(
        page_id=PAGE_ID,
        name="Sunrise Realty",
        team=team,
        field_mapping={
            FORM_ID: {
                "when_are_you_buying?": "message",
                "phone_number_(eg.305xxxxxxx)": "phone",
            }
        },
    )
    page.set_access_token(PAGE_TOKEN)
    page.save()
    return page


def due(event: InboundEvent) -> dt.datetime:
    """When the event may be tried again (it must have been told to wait)."""
    assert event.next_attempt_at is not None
    return event.next_attempt_at


def wait_of(event: InboundEvent) -> dt.timedelta:
    assert event.last_attempt_at is not None
    return due(event) - event.last_attempt_at


# --- Verification (GET) ----------------------------------------------------------------------


def test_verification_echoes_the_challenge_as_plain_text(client):
    response = client.get(URL + "?" + fixture("verify__challenge.txt").decode())

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "query",
    [
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong",
        "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock",
        "hub.mode=subscribe&hub.challenge=1158201444",
        "",
    ],
)
def test_verification_with_a_wrong_token_or_mode_is_refused(client, query):
    assert client.get(URL + "?" + query).status_code == 403


def test_verification_is_refused_while_no_token_is_configured(client, settings):
    settings.FACEBOOK_VERIFY_TOKEN = ""
    query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="

    assert client.get(URL + "?" + query).status_code == 403


# --- Receiving (POST) ------------------------------------------------------------------------


def test_a_batch_of_three_leads_is_stored_as_three_events_and_answered_at_once(client):
    response = post(client, fixture("leadgen__batch_of_three.json"))

    assert response.status_code == 200
    assert response.json() == {"received": 3, "new": 3, "duplicates": 0}
    events = InboundEvent.objects.order_by("external_id")
    assert [e.external_id for e in events] == [
        "555971704561545",
        "555971704561546",
        "555971704561547",
    ]
    assert {(e.source, e.status) for e in events} == {("facebook", "received")}
    assert [e.meta["form_id"] for e in events] == [FORM_ID, FORM_ID, OTHER_FORM_ID]
    one = json.loads(bytes(events[0].body))
    assert one["entry"][0]["changes"][0]["value"]["leadgen_id"] == "555971704561545"
    assert len(one["entry"][0]["changes"]) == 1


def test_a_batch_of_a_thousand_changes_is_stored_as_a_thousand_events(client):
    batch = fixture_json("leadgen__batch_of_three.json")
    template = batch["entry"][0]["changes"][0]
    changes = [copy.deepcopy(template) for _ in range(1000)]
    for n, change in enumerate(changes):
        change["value"]["leadgen_id"] = str(900000000000000 + n)
    changes[999]["value"]["leadgen_id"] = changes[0]["value"]["leadgen_id"]  # a repeat within
    batch["entry"] = [{**batch["entry"][0], "changes": changes}]

    response = post(client, json.dumps(batch).encode())

    assert response.status_code == 200
    assert response.json() == {"received": 1000, "new": 999, "duplicates": 1}
    assert InboundEvent.objects.filter(source="facebook", status="received").count() == 999


def test_a_duplicate_delivery_is_answered_and_stored_once(client):
    post(client, fixture("leadgen__single.json"))
    # Facebook retries, here in the older payload with numeric ids.
    response = post(client, fixture("leadgen__numeric_ids.json"))

    assert response.status_code == 200
    assert response.json() == {"received": 1, "new": 0, "duplicates": 1}
    assert InboundEvent.objects.get().external_id == "555971704561545"


def test_a_forged_signature_is_refused_and_nothing_is_stored(client):
    forged = fixture("leadgen__bad_signature.txt").decode()
    response = post(client, fixture("leadgen__single.json"), signature=forged)

    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_body_signed_with_another_secret_is_refused(client):
    body = fixture("leadgen__single.json")

    assert post(client, body, signature=sign(body, "not-our-secret")).status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_missing_signature_is_refused(client):
    body = fixture("leadgen__single.json")

    assert client.post(URL, body, content_type="application/json").status_code == 403
    assert not InboundEvent.objects.exists()


def test_the_source_is_off_while_the_app_secret_is_unset(client, settings):
    body = fixture("leadgen__single.json")
    settings.FACEBOOK_APP_SECRET = ""

    assert post(client, body, signature=sign(body, "")).status_code == 404
    assert client.get(URL + "?" + fixture("verify__challenge.txt").decode()).status_code == 404
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("leadgen__malformed.json", "not valid JSON"),
        ("leadgen__empty.txt", "not valid JSON"),
        ("leadgen__missing_leadgen_id.json", "no 'leadgen_id'"),
    ],
)
def test_a_signed_but_unreadable_body_is_stored_failed_and_answered_400(client, name, reason):
    body = fixture(name)
    response = post(client, body)

    assert response.status_code == 400
    assert reason in response.json()["message"]
    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.body)) == ("failed", body)
    assert reason in event.error


def test_changes_other_than_leadgen_are_answered_and_ignored(client, run_queue):
    response = post(client, fixture("leadgen__other_field.json"))

    assert response.status_code == 200
    assert response.json()["received"] == 0
    event = InboundEvent.objects.get()
    assert event.status == "ignored"
    assert "feed" in event.error
    assert run_queue() == 0


def test_a_huge_body_is_refused_before_it_is_read(client):
    body = b'{"object":"page","entry":[' + b" " * (3 * 1024 * 1024) + b"]}"

    assert post(client, body).status_code == 413
    assert not InboundEvent.objects.exists()


# --- On the queue: the Graph API -------------------------------------------------------------


def test_end_to_end_a_batch_becomes_leads_of_the_pages_team(
    client, graph, page, beach, alice, bob, run_queue
):
    post(client, fixture("leadgen__batch_of_three.json"))
    run_queue()

    first = Lead.objects.select_related("contact").get(external_id="555971704561545")
    assert (first.source, first.team, first.raw_event_id) == (
        "facebook",
        page.team,
        InboundEvent.objects.get(external_id="555971704561545").pk,
    )
    assert (first.contact.first_name, first.contact.last_name) == ("James", "Oak")
    assert (first.contact.email, first.contact.phone) == ("james@example.org", "+13055550177")
    assert (first.property_zip, first.property_city) == ("33139", "Miami Beach")
    assert first.assigned_agent == alice
    assert first.message == "when are you buying: 0-3_months"
    assert first.source_detail == "Sunrise Realty / Miami Beach buyers"
    assert first.received_at == dt.datetime(2015, 11, 12, 15, 27, 6, tzinfo=dt.UTC)
    facebook = first.extra["facebook"]
    assert facebook["answers"]["preferred_neighborhoods"] == "South Beach, Mid-Beach"
    assert facebook["answers"]["when_are_you_buying?"] == "0-3_months"
    assert (facebook["ad_id"], facebook["adset_id"], facebook["campaign_id"]) == (
        "6051234567891",
        "6051234567890",
        "6051234567880",
    )
    assert facebook["adgroup_id"] == "6051234567890"
    assert (facebook["form_id"], facebook["campaign_name"]) == (FORM_ID, "Spring buyers 2026")

    second = Lead.objects.select_related("contact").get(external_id="555971704561546")
    assert (second.contact.first_name, second.contact.last_name) == ("Maria", "de la Cruz")
    assert (second.property_zip, second.contact.phone) == ("33140", "+13055550144")
    assert second.extra["facebook"]["is_organic"] is True
    assert second.extra["facebook"]["answers"]["phone_number_(eg.305xxxxxxx)"] == "(305) 555-0144"

    third = InboundEvent.objects.get(external_id="555971704561547")
    assert third.status == "failed"
    assert "no usable email address or phone number" in third.error
    assert Lead.objects.count() == 2


def test_consent_checkboxes_are_kept_with_the_forms_wording(client, graph, page, run_queue):
    post(client, fixture("leadgen__single.json"))
    run_queue()

    lead = Lead.objects.get()
    consents = {(c.channel, c.granted): c for c in Consent.objects.filter(lead=lead)}
    sms = consents[(Consent.Channel.SMS, True)]
    assert "I agree to receive text messages from Sunrise Realty" in sms.text
    assert "Sunrise Realty may contact you about homes for sale." in sms.text
    assert sms.evidence["checkbox_key"] == "sms_ok"
    assert sms.evidence["leadgen_id"] == "555971704561545"
    assert set(consents) == {
        (Consent.Channel.SMS, True),
        (Consent.Channel.MARKETING_EMAIL, False),
    }
    # The unticked newsletter box is a refusal of marketing email, in the form's words.
    newsletter = consents[(Consent.Channel.MARKETING_EMAIL, False)]
    assert newsletter.evidence["checkbox_key"] == "newsletter"
    assert "monthly market newsletter" in newsletter.text
    # The form's wording was read once and kept on the page.
    page.refresh_from_db()
    assert page.forms[FORM_ID]["checkboxes"]["sms_ok"].startswith("I agree to receive")


def test_a_custom_question_can_be_mapped_to_a_lead_field(client, graph, page, run_queue):
    page.field_mapping = {**page.field_mapping, "*": {"are_you_selling_a_home?": "lead_type"}}
    page.save()
    body = fixture("leadgen__batch_of_three.json")
    post(client, body)
    run_queue()

    assert Lead.objects.get(external_id="555971704561546").lead_type == "seller"


def test_the_graph_calls_carry_the_pages_token_and_its_appsecret_proof(
    client, graph, page, run_queue
):
    post(client, fixture("leadgen__single.json"))
    run_queue()

    path, params = graph.state.calls[0]
    assert path == "555971704561545"
    # In a header, never in the URL (which urllib3 logs at DEBUG and proxies keep).
    assert graph.state.tokens_by[0] == ("header", PAGE_TOKEN)
    assert "access_token" not in params
    assert params["appsecret_proof"]
    assert "field_data" in params["fields"]
    assert InboundEvent.objects.get().status == "processed"


def test_a_lead_for_a_page_not_set_up_fails_visibly(client, graph, run_queue):
    post(client, fixture("leadgen__single.json"))
    run_queue()

    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert f"No Facebook page {PAGE_ID} is set up" in event.error


# --- Graph errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["error__190_expired_token.json", "error__102_session.json"])
def test_a_rejected_token_marks_the_page_and_keeps_the_lead_waiting(
    client, graph, page, run_queue, name
):
    graph.state.fail("555971704561545", fixture_json(name))
    post(client, fixture("leadgen__single.json"))
    run_queue()

    page.refresh_from_db()
    assert page.status == FacebookPage.Status.NEEDS_REAUTH
    assert str(fixture_json(name)["error"]["code"]) in page.status_reason
    event = InboundEvent.objects.get()
    assert event.status == "received"
    assert "needs re-authorisation" in event.error
    assert due(event) > timezone.now()
    assert not Lead.objects.exists()
    assert len(mail.outbox) == 1
    assert "Sunrise Realty needs re-authorisation" in mail.outbox[0].subject


def test_operations_are_mailed_once_however_many_leads_wait(client, graph, page, run_queue):
    graph.state.fail("555971704561545", fixture_json("error__190_expired_token.json"))
    post(client, fixture("leadgen__batch_of_three.json"))
    run_queue()

    assert len(mail.outbox) == 1
    assert graph.state.calls[0][0] == "555971704561545"
    # The other two leads waited without asking the Graph API with the rejected token.
    assert len(graph.state.calls) == 1
    waiting = InboundEvent.objects.filter(status="received")
    assert waiting.count() == 3
    assert not events_sweep(), "waiting leads are not re-rung before their time"


def test_a_new_token_reads_the_waiting_leads_at_once(client, graph, page, run_queue):
    graph.state.fail("555971704561545", fixture_json("error__190_expired_token.json"))
    post(client, fixture("leadgen__single.json"))
    run_queue()
    graph.state.tokens = {"EAAB-renewed-token"}

    assert facebook_page_set_token(page=page, token="EAAB-renewed-token") == 1
    run_queue()

    page.refresh_from_db()
    assert page.status == FacebookPage.Status.ACTIVE
    assert InboundEvent.objects.get().status == "processed"
    assert Lead.objects.get().external_id == "555971704561545"
    assert graph.state.tokens_by[-1] == ("header", "EAAB-renewed-token")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("error__613_throttled.json", 613),
        ("error__80005_leadgen_throttled.json", 80005),
        ("error__613_throttled.json", 1),
        ("error__613_throttled.json", 2),
        ("error__613_throttled.json", 4),
        ("error__613_throttled.json", 17),
        ("error__613_throttled.json", 32),
    ],
)
def test_throttling_and_transient_errors_retry_with_backoff(
    client, graph, page, run_queue, name, code
):
    error = copy.deepcopy(fixture_json(name))
    error["error"]["code"] = code
    graph.state.fail("555971704561545", error, times=2)
    post(client, fixture("leadgen__single.json"))
    run_queue()

    event = InboundEvent.objects.get()
    assert event.status == "received"
    assert f"code {code}" in event.error
    assert wait_of(event) == dt.timedelta(seconds=60)
    assert events_sweep(now=due(event) - dt.timedelta(seconds=1)) == 0

    assert events_sweep(now=due(event) + dt.timedelta(seconds=1)) == 1
    run_queue()
    event.refresh_from_db()
    assert event.status == "received"
    assert wait_of(event) == dt.timedelta(seconds=120)

    events_sweep(now=due(event) + dt.timedelta(seconds=1))
    run_queue()
    event.refresh_from_db()
    assert (event.status, event.error, event.attempts) == ("processed", "", 3)
    assert Lead.objects.count() == 1
    page.refresh_from_db()
    assert page.status == FacebookPage.Status.ACTIVE
    assert not mail.outbox


def test_a_graph_api_that_does_not_answer_is_tried_again_later(client, page, settings, run_queue):
    with GraphServer(APP_SECRET) as stopped:
        settings.FACEBOOK_GRAPH_API_URL = stopped.url  # closed when the worker calls it
    post(client, fixture("leadgen__single.json"))
    run_queue()

    event = InboundEvent.objects.get()
    assert event.status == "received"
    assert "ConnectionError" in event.error
    assert wait_of(event) == dt.timedelta(seconds=60)


def test_throttling_that_outlasts_a_day_fails_the_event(client, graph, page, run_queue):
    graph.state.fail("555971704561545", fixture_json("error__613_throttled.json"), times=2)
    post(client, fixture("leadgen__single.json"))
    run_queue()
    event = InboundEvent.objects.get()
    InboundEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - dt.timedelta(hours=25)
    )

    events_sweep(now=due(event) + dt.timedelta(seconds=1))
    run_queue()

    event.refresh_from_db()
    assert event.status == "failed"
    assert "Still failing after 1 day" in event.error


def test_any_other_graph_error_fails_the_event_with_the_reason(client, graph, page, run_queue):
    graph.state.fail("555971704561545", fixture_json("error__100_missing_permission.json"))
    post(client, fixture("leadgen__single.json"))
    run_queue()

    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert "Missing permissions" in event.error
    assert "code 100" in event.error
    assert FacebookPage.objects.get().status == FacebookPage.Status.ACTIVE


# --- Backfill --------------------------------------------------------------------------------


@pytest.fixture
def backfill_leads(graph) -> list[dict[str, Any]]:
    """Three leads of the Miami Beach form this morning, served two to a page."""
    leads: list[dict[str, Any]] = fixture_json("leads__paginated.json")["data"]
    graph.state.form_leads[FORM_ID] = leads
    forms = fixture_json("forms__leadgen_forms.json")["data"]
    for form in forms:
        graph.state.objects[form["id"]] = {**graph.state.objects[form["id"]], **form}
    return leads


def webhook_for(leadgen_id: str) -> bytes:
    body = fixture_json("leadgen__single.json")
    body["entry"][0]["changes"][0]["value"]["leadgen_id"] = leadgen_id
    return json.dumps(body).encode()


def test_backfill_brings_a_missed_lead_exactly_once_and_never_doubles_one_received(
    client, graph, page, backfill_leads, run_queue
):
    FacebookPage.objects.filter(pk=page.pk).update(
        last_lead_time=dt.datetime(2026, 11, 30, 9, 5, tzinfo=dt.UTC)
    )
    page.refresh_from_db()
    post(client, webhook_for("555971704561601"))  # the webhook brought this one
    graph.state.objects["555971704561601"] = backfill_leads[1]
    run_queue()

    result = facebook_backfill(page=page)
    run_queue()

    assert (result.forms, result.seen, result.stored, result.error) == (2, 2, 1, "")
    leads = Lead.objects.order_by("external_id")
    assert [lead.external_id for lead in leads] == ["555971704561601", "555971704561602"]
    missed = Lead.objects.select_related("contact").get(external_id="555971704561602")
    assert (missed.contact.email, missed.team) == ("missed@example.org", page.team)
    assert InboundEvent.objects.get(external_id="555971704561602").meta["via"] == "backfill"
    # The filter asked only for leads after the last one seen (less a small overlap).
    leads_calls = [params for path, params in graph.state.calls if path == f"{FORM_ID}/leads"]
    asked_after = json.loads(leads_calls[0]["filtering"])[0]["value"]
    assert asked_after == int(dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC).timestamp())
    page.refresh_from_db()
    assert page.last_lead_time == dt.datetime(2026, 11, 30, 9, 20, tzinfo=dt.UTC)

    again = facebook_backfill(page=page)
    run_queue()
    assert again.stored == 0
    assert Lead.objects.count() == 2


def test_backfill_follows_paging_next_through_every_page(graph, page, backfill_leads, run_queue):
    FacebookPage.objects.filter(pk=page.pk).update(
        last_lead_time=dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
    )
    page.refresh_from_db()

    result = facebook_backfill(page=page)
    run_queue()

    assert (result.seen, result.stored) == (3, 3)
    pages = [params for path, params in graph.state.calls if path == f"{FORM_ID}/leads"]
    assert [p.get("after") for p in pages] == [None, "2"]
    assert Lead.objects.count() == 3


def test_backfill_stops_and_marks_the_page_when_the_token_is_rejected(graph, page, backfill_leads):
    graph.state.fail(f"{PAGE_ID}/leadgen_forms", fixture_json("error__190_expired_token.json"))

    result = facebook_backfill(page=page)

    assert "code 190" in result.error
    page.refresh_from_db()
    assert page.status == FacebookPage.Status.NEEDS_REAUTH
    assert page.last_lead_time is None
    assert not InboundEvent.objects.exists()


def test_backfill_runs_on_its_schedule_and_from_the_admin(
    admin_client, graph, page, backfill_leads, run_queue
):
    from integrations.intake.tasks import SCHEDULES, backfill_facebook

    assert any(
        s["func"] == "integrations.intake.tasks.backfill_facebook" for s in SCHEDULES.values()
    )
    FacebookPage.objects.filter(pk=page.pk).update(
        last_lead_time=dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC)
    )
    assert backfill_facebook() == {PAGE_ID: 1}

    response = admin_client.post(
        reverse("admin:intake_facebookpage_changelist"),
        {"action": "backfill", "_selected_action": [page.pk]},
        follow=True,
    )
    assert "2 form(s), 1 lead(s) seen, 0 new." in response.content.decode()


# --- The page in the admin -------------------------------------------------------------------


def test_the_admin_stores_the_token_encrypted_and_never_shows_it(admin_client, team):
    url = reverse("admin:intake_facebookpage_add")
    response = admin_client.post(
        url,
        {
            "page_id": PAGE_ID,
            "name": "Sunrise Realty",
            "team": team.pk,
            "access_token": PAGE_TOKEN,
            "field_mapping": '{"*": {"when_are_you_buying?": "message"}}',
        },
    )
    assert response.status_code == 302
    page = FacebookPage.objects.get()
    assert PAGE_TOKEN not in page.access_token_encrypted
    assert page.access_token() == PAGE_TOKEN

    change = admin_client.get(reverse("admin:intake_facebookpage_change", args=[page.pk]))
    assert change.status_code == 200
    assert PAGE_TOKEN not in change.content.decode()
    assert page.access_token_encrypted not in change.content.decode()


def test_saving_the_page_without_a_token_keeps_the_old_one(admin_client, page):
    url = reverse("admin:intake_facebookpage_change", args=[page.pk])
    response = admin_client.post(
        url,
        {
            "page_id": PAGE_ID,
            "name": "Sunrise Realty Group",
            "team": page.team_id,
            "access_token": "",
            "field_mapping": "{}",
        },
    )
    assert response.status_code == 302
    page.refresh_from_db()
    assert (page.name, page.access_token()) == ("Sunrise Realty Group", PAGE_TOKEN)


def test_the_admin_refuses_a_mapping_to_an_unknown_field(admin_client, page):
    url = reverse("admin:intake_facebookpage_change", args=[page.pk])
    response = admin_client.post(
        url,
        {
            "page_id": PAGE_ID,
            "name": "Sunrise Realty",
            "team": page.team_id,
            "field_mapping": '{"*": {"budget": "salary"}}',
        },
    )
    assert response.status_code == 200
    assert "Unknown lead field(s): salary" in response.content.decode()


# --- Settings --------------------------------------------------------------------------------


def test_a_half_made_configuration_says_so_at_start(settings):
    from integrations.intake.sources.facebook.checks import check_facebook_settings

    assert check_facebook_settings() == []
    settings.FACEBOOK_VERIFY_TOKEN = ""
    settings.FACEBOOK_GRAPH_API_VERSION = "25"
    settings.FIELD_ENCRYPTION_KEY = ["not-a-fernet-key"]

    ids = sorted(str(problem.id) for problem in check_facebook_settings())

    assert ids == ["intake.E201", "intake.E202", "intake.W201"]


def test_tokens_can_be_rotated_to_a_new_key(page, settings):
    from cryptography.fernet import Fernet

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [old_key]
    page.set_access_token(PAGE_TOKEN)
    page.save()

    settings.FIELD_ENCRYPTION_KEY = [new_key, old_key]
    assert page.access_token() == PAGE_TOKEN
    settings.FIELD_ENCRYPTION_KEY = [new_key]
    with pytest.raises(DecryptionError):
        page.access_token()
