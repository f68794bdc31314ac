"""The hosted web form: every door a sender can knock on, and what each one answers."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.intake.models import InboundEvent, WebForm
from integrations.intake.sources.webform import SubmissionForm, render_token, validate_submission
from leads.models import Activity, Consent, Contact, Lead

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "webform"
URL = "/forms/test-form-key/"

pytestmark = pytest.mark.django_db


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture(name))


@pytest.fixture
def token(web_form: WebForm) -> str:
    return render_token(web_form)


def post_json(client: Client, payload: object, token: str | None = None, **extra):
    if isinstance(payload, dict) and token is not None:
        payload = {**payload, "_ts": token}
    body = payload if isinstance(payload, bytes) else json.dumps(payload)
    return client.post(URL, body, content_type="application/json", **extra)


def post_form(client: Client, body: bytes, token: str | None = None, **extra):
    if token is not None:
        body = body + b"&_ts=" + token.encode()
    return client.post(URL, body, content_type="application/x-www-form-urlencoded", **extra)


# --- The page ---------------------------------------------------------------------------------


def test_it_renders_a_mobile_friendly_form_with_consent_text_and_spam_traps(client, web_form):
    response = client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="viewport"' in html
    assert web_form.consent_text in html
    assert 'name="website"' in html  # the honeypot
    assert 'name="_ts"' in html
    assert 'name="submission_id"' in html
    assert web_form.marketing_consent_text in html


def test_it_lets_only_the_allowed_origins_frame_the_form(client, web_form):
    response = client.get(URL)
    assert "X-Frame-Options" not in response
    assert response["Content-Security-Policy"] == (
        "frame-ancestors 'self' https://www.sunrise.example"
    )


def test_it_prefills_attribution_from_the_query_string(client, web_form):
    response = client.get(URL + "?utm_source=newsletter&zip_code=33139&gclid=abc")
    form = response.context["form"]
    assert form.initial["utm_source"] == "newsletter"
    assert form.initial["zip_code"] == "33139"
    assert form.initial["gclid"] == "abc"


def test_an_unknown_key_is_a_404(client, web_form):
    assert client.get("/forms/no-such-form/").status_code == 404
    response = client.post("/forms/no-such-form/", b"{}", content_type="application/json")
    assert response.status_code == 404


def test_an_inactive_form_is_a_404(client, web_form, token):
    web_form.is_active = False
    web_form.save()
    assert client.get(URL).status_code == 404
    assert post_json(client, fixture_json("submission__json.json"), token).status_code == 404
    assert not InboundEvent.objects.exists()


def test_the_door_answers_for_a_form_from_memory_and_forgets_one_saved(
    client, web_form, token, settings
):
    settings.WEBFORM_CACHE_SECONDS = 60
    payload = fixture_json("submission__json.json")

    def form_lookups(**fields) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert post_json(client, {**payload, **fields}, token).status_code == 201
        return sum('"integrations_webform"' in q["sql"] for q in queries.captured_queries)

    assert form_lookups(submission_id="memory-0001") == 1
    assert form_lookups(submission_id="memory-0002") == 0  # answered from memory
    web_form.is_active = False
    web_form.save()  # forgotten at once in the process that saved it
    assert post_json(client, payload, token).status_code == 404


def test_the_worker_makes_the_lead_from_what_the_door_checked(client, web_form, token, run_queue):
    """The door keeps the cleaned fields and the form's words with the raw event: the worker
    neither looks the form up nor validates again, and the lead keeps the consent words the
    person was shown although the form changed meanwhile."""
    shown = web_form.consent_text
    assert post_json(client, fixture_json("submission__json.json"), token).status_code == 201
    WebForm.objects.filter(pk=web_form.pk).update(consent_text="Words nobody was shown.")
    with CaptureQueriesContext(connection) as queries:
        run_queue()
    assert not any('"integrations_webform"' in q["sql"] for q in queries.captured_queries)
    lead = Lead.objects.get()
    assert {c.text for c in Consent.objects.filter(lead=lead, channel="sms")} == {shown}
    assert lead.source_detail == web_form.name


def test_the_embed_script_points_an_iframe_at_the_hosted_form(client, web_form):
    response = client.get(URL + "embed.js")
    script = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    src = script.split('frame.src = "', 1)[1].split('"', 1)[0]
    assert json.loads(f'"{src}"') == "http://testserver/forms/test-form-key/?"
    assert 'createElement("iframe")' in script
    assert client.get("/forms/nope/embed.js").status_code == 404


# --- Accepted submissions ---------------------------------------------------------------------


def test_a_json_submission_is_stored_raw_answered_201_and_becomes_a_lead(
    client, web_form, beach, alice, token, run_queue
):
    payload = {**fixture_json("submission__json.json"), "_ts": token}
    response = post_json(client, payload, HTTP_USER_AGENT="Mozilla/5.0 (iPhone)")

    assert response.status_code == 201
    event = InboundEvent.objects.get()
    assert response.json() == {"id": str(event.public_id), "status": "received"}
    assert json.loads(bytes(event.body)) == payload  # raw, exactly as sent
    assert event.status == InboundEvent.Status.RECEIVED
    assert not Lead.objects.exists()  # parsing happens on the queue

    assert run_queue() == 2  # the event, then the email alert to Alice it led to
    event.refresh_from_db()
    lead = Lead.objects.get()
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.lead == lead
    assert lead.source == "webform"
    assert lead.source_detail == "Website"
    assert lead.external_id == "test-form-key:5f0c2a1e-93b4-4f5e-a7a1-2d1c0b9e7f10"
    assert lead.raw_event_id == event.pk
    assert lead.team == web_form.team
    assert lead.assigned_agent == alice
    assert (lead.property_zip, lead.mls_number) == ("33139", "A11489321")
    assert lead.property_address == "6301 Collins Ave #1204"
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == (
        "google",
        "cpc",
        "beach-condos",
    )
    assert lead.gclid == "EAIaIQobChMI8Zq"
    assert lead.page_url == "https://www.sunrise.example/listings/6301-collins"
    contact = lead.contact
    assert (contact.first_name, contact.last_name) == ("Jordan", "Avery")
    assert contact.email == "jordan.avery@example.com"
    assert contact.phone == "+13055550147"
    assert lead.price is None or isinstance(lead.price, Decimal)


def test_consent_is_kept_with_the_exact_text_time_ip_and_user_agent(
    client, web_form, token, run_queue
):
    payload = fixture_json("submission__json.json")
    post_json(
        client, payload, token, HTTP_USER_AGENT="Mozilla/5.0 (iPhone)", REMOTE_ADDR="203.0.113.9"
    )
    run_queue()

    lead = Lead.objects.get()
    consents = {c.channel: c for c in Consent.objects.filter(lead=lead)}
    assert set(consents) == {"call", "sms", "email", "marketing_email"}
    sms = consents["sms"]
    assert sms.granted is True
    assert sms.text == web_form.consent_text
    assert sms.evidence["ip"] == "203.0.113.9"
    assert sms.evidence["user_agent"] == "Mozilla/5.0 (iPhone)"
    assert sms.obtained_at is not None
    assert consents["marketing_email"].granted is False
    assert consents["marketing_email"].text == web_form.marketing_consent_text


def test_a_form_encoded_submission_shows_the_thank_you_page(client, web_form, token, run_queue):
    response = post_form(client, fixture("submission__form.txt"), token)

    assert response.status_code == 200
    assert b"Thank you" in response.content
    run_queue()
    lead = Lead.objects.get()
    assert lead.lead_type == Lead.Type.SELLER
    assert lead.property_zip == "33139"  # ZIP+4 folded to five digits
    assert lead.fbclid == "IwAR2x"
    assert lead.contact.phone == "+13055550199"


def test_a_browser_is_sent_to_the_return_url_with_a_303(client, web_form, token):
    web_form.return_url = "https://www.sunrise.example/thanks"
    web_form.save()
    response = post_form(client, fixture("submission__form.txt"), token)
    assert response.status_code == 303
    assert response["Location"] == "https://www.sunrise.example/thanks"
    assert InboundEvent.objects.count() == 1


def test_a_multipart_submission_is_accepted_and_parsed_from_the_raw_body(
    client, web_form, token, run_queue
):
    fields = {**fixture_json("submission__phone_only.json"), "consent": "on", "_ts": token}
    response = client.post(URL, fields)  # the test client sends multipart/form-data
    assert response.status_code == 200
    run_queue()
    assert Lead.objects.get().contact.phone == "+13055550123"


def test_the_same_submission_id_twice_is_one_event_and_one_lead(client, web_form, token, run_queue):
    payload = fixture_json("submission__json.json")
    first = post_json(client, payload, token)
    second = post_json(client, payload, token)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert InboundEvent.objects.count() == 1
    run_queue()
    assert Lead.objects.count() == 1


def test_submissions_without_an_id_are_each_kept(client, web_form, token, run_queue):
    payload = {
        k: v for k, v in fixture_json("submission__json.json").items() if k != "submission_id"
    }
    post_json(client, payload, token)
    post_json(client, payload, token)
    run_queue()
    assert Lead.objects.count() == 2
    assert Contact.objects.count() == 1
    assert Activity.objects.filter(kind=Activity.Kind.REPEAT_INQUIRY).count() == 1


def test_a_phone_only_submission_is_enough(client, web_form, token, run_queue):
    assert post_json(client, fixture_json("submission__phone_only.json"), token).status_code == 201
    run_queue()
    assert Lead.objects.get().contact.email == ""


def test_a_lead_outside_every_territory_waits_in_the_pool(
    client, web_form, beach, token, run_queue
):
    post_json(client, fixture_json("submission__no_zip.json"), token)
    run_queue()
    lead = Lead.objects.get()
    assert lead.assigned_agent is None
    assert lead.activities.filter(kind=Activity.Kind.UNASSIGNED).exists()


# --- Spam and abuse ---------------------------------------------------------------------------


def test_a_filled_honeypot_is_thanked_and_dropped(client, web_form, token):
    response = post_json(client, fixture_json("submission__bot_honeypot.json"), token)
    assert response.status_code == 201
    assert "id" in response.json()
    assert not InboundEvent.objects.exists()


def test_a_submission_without_the_render_token_is_refused(client, web_form):
    response = post_json(client, fixture_json("submission__json.json"))
    assert response.status_code == 400
    assert "_ts" in response.json()["fields"]
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    "bad_token",
    ["garbage", "a:b:c", "eyJrIjoidGVzdC1mb3JtLWtleSIsInQiOjB9:1abc:forged"],
)
def test_a_forged_render_token_is_refused(client, web_form, bad_token):
    response = post_json(client, fixture_json("submission__json.json"), bad_token)
    assert response.status_code == 400
    assert "_ts" in response.json()["fields"]


def test_a_token_from_another_form_is_refused(client, web_form, team):
    other = WebForm.objects.create(public_key="other-form", name="Other", team=team)
    response = post_json(client, fixture_json("submission__json.json"), render_token(other))
    assert response.status_code == 400
    assert "_ts" in response.json()["fields"]


@override_settings(WEBFORM_TOKEN_MAX_AGE=-1)
def test_an_expired_token_is_refused(client, web_form, token):
    response = post_json(client, fixture_json("submission__json.json"), token)
    assert response.status_code == 400
    assert "expired" in response.json()["message"]


@override_settings(WEBFORM_MIN_FILL_SECONDS=3600)
def test_a_form_sent_faster_than_a_person_can_fill_it_is_refused(client, web_form, token):
    response = post_json(client, fixture_json("submission__json.json"), token)
    assert response.status_code == 400
    assert "too quickly" in response.json()["message"]
    assert not InboundEvent.objects.exists()


@override_settings(WEBFORM_RATE_LIMIT=3, WEBFORM_RATE_WINDOW=600)
def test_one_address_is_rate_limited_with_retry_after(client, web_form, token):
    payload = {
        k: v for k, v in fixture_json("submission__json.json").items() if k != "submission_id"
    }
    statuses = [post_json(client, payload, token).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    limited = post_json(client, payload, token)
    assert limited["Retry-After"] == "600"
    assert limited.json()["code"] == "rate_limited"
    other_ip = post_json(client, payload, token, REMOTE_ADDR="198.51.100.7")
    assert other_ip.status_code == 201


@override_settings(WEBFORM_RATE_LIMIT=1, NUM_PROXIES=1)
def test_behind_a_proxy_the_limit_counts_the_forwarded_client(client, web_form, token):
    payload = {
        k: v for k, v in fixture_json("submission__json.json").items() if k != "submission_id"
    }
    first = post_json(client, payload, token, HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = post_json(client, payload, token, HTTP_X_FORWARDED_FOR="198.51.100.2")
    again = post_json(client, payload, token, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert (first.status_code, second.status_code, again.status_code) == (201, 201, 429)


def test_a_post_from_a_site_not_on_the_allow_list_is_refused(client, web_form, token):
    response = post_json(
        client, fixture_json("submission__json.json"), token, HTTP_ORIGIN="https://evil.example"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    assert not InboundEvent.objects.exists()


def test_an_allowed_site_gets_cors_headers(client, web_form, token):
    response = post_json(
        client, fixture_json("submission__json.json"), token,
        HTTP_ORIGIN="https://www.sunrise.example",
    )  # fmt: skip
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == "https://www.sunrise.example"


def test_a_cors_preflight_is_answered_for_allowed_sites_only(client, web_form):
    allowed = client.options(URL, HTTP_ORIGIN="https://www.sunrise.example")
    refused = client.options(URL, HTTP_ORIGIN="https://evil.example")
    assert allowed.status_code == 204
    assert allowed["Access-Control-Allow-Origin"] == "https://www.sunrise.example"
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    assert refused.status_code == 403


def test_our_own_site_may_always_post(client, web_form, token):
    response = post_json(
        client, fixture_json("submission__json.json"), token, HTTP_ORIGIN="http://testserver"
    )
    assert response.status_code == 201


# --- Bad input: a clear 400 naming the field, never a 500 -------------------------------------


def test_an_undeclared_field_is_named_and_refused(client, web_form, token):
    response = post_json(client, fixture_json("submission__unknown_field.json"), token)
    assert response.status_code == 400
    assert response.json()["fields"] == {"credit_card": ["Unknown field."]}
    assert not InboundEvent.objects.exists()


def test_a_nested_json_value_is_named_and_refused(client, web_form, token):
    response = post_json(client, fixture_json("submission__nested_value.json"), token)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"first_name"}


def test_a_json_array_is_refused(client, web_form):
    response = post_json(client, fixture("submission__array_body.json"))
    assert response.status_code == 400
    assert "object" in response.json()["message"]


def test_malformed_json_is_refused_with_the_reason(client, web_form):
    response = post_json(client, fixture("submission__malformed.json"))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "not valid JSON" in response.json()["message"]


def test_a_body_that_is_not_utf8_is_refused(client, web_form):
    response = client.post(
        URL, b"first_name=\xff\xfe", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400


def test_an_empty_body_is_refused_naming_the_missing_fields(client, web_form):
    response = client.post(
        URL, b"", content_type="application/json", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400


def test_an_unsupported_content_type_is_refused(client, web_form):
    response = client.post(URL, b"hello", content_type="text/plain", HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert "content type" in response.json()["message"]


def test_a_repeated_field_is_refused(client, web_form, token):
    response = post_form(client, b"email=a%40example.com&email=b%40example.com&consent=on", token)
    assert response.status_code == 400
    assert b"more than once" in response.content


def test_an_uploaded_file_is_refused(client, web_form, token):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("cv.pdf", b"%PDF-1.4", content_type="application/pdf")
    response = client.post(URL, {"email": "a@example.com", "_ts": token, "message": upload})
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_invalid_values_are_each_named(client, web_form, token):
    response = post_json(client, fixture_json("submission__invalid_fields.json"), token)
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {"email", "phone", "zip_code", "lead_type", "page_url", "submission_id"}
    assert "phone number" in fields["phone"][0]
    assert "ZIP" in fields["zip_code"][0]


def test_a_submission_needs_an_email_or_a_phone(client, web_form, token):
    response = post_json(client, fixture_json("submission__no_contact.json"), token)
    assert response.status_code == 400
    assert "email address or a phone number" in response.json()["fields"]["email"][0]


def test_consent_is_required_when_the_form_says_so(client, web_form, token):
    response = post_json(client, fixture_json("submission__no_consent.json"), token)
    assert response.status_code == 400
    assert response.json()["fields"] == {"consent": ["Please tick the consent box."]}


def test_consent_is_optional_when_the_form_says_so(client, web_form, token, run_queue):
    web_form.consent_required = False
    web_form.save()
    response = post_json(client, fixture_json("submission__no_consent.json"), token)
    assert response.status_code == 201
    run_queue()
    assert not Consent.objects.filter(granted=True).exists()


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("first_name", 100),
        ("last_name", 100),
        ("message", 5000),
        ("property_address", 255),
        ("mls_number", 50),
        ("utm_source", 255),
        ("utm_campaign", 255),
        ("gclid", 255),
        ("fbclid", 255),
    ],
)
def test_every_field_has_a_size_limit(client, web_form, token, field, limit):
    payload = {"email": "kim@example.com", "consent": True, field: "x" * (limit + 1)}
    response = post_json(client, payload, token)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


@override_settings(WEBFORM_MAX_BODY_BYTES=1024)
def test_a_body_over_the_size_limit_is_refused_with_413(client, web_form, token):
    payload = {"email": "kim@example.com", "consent": True, "message": "x" * 2000, "_ts": token}
    response = post_json(client, payload)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_a_huge_body_is_refused_before_it_is_read(client, web_form):
    body = b'{"message": "' + b"x" * (300 * 1024) + b'"}'
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 413


def test_other_methods_are_refused(client, web_form):
    response = client.put(URL, b"{}", content_type="application/json")
    assert response.status_code == 405
    assert "POST" in response["Allow"]


def test_an_html_form_with_errors_is_shown_again_with_the_values_kept(client, web_form, token):
    body = b"first_name=Kim&email=not-an-email&phone=&consent=on"
    response = post_form(client, body, token)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Enter a valid email address." in html
    assert 'value="Kim"' in html
    assert f'value="{token}"' in html  # the fill clock keeps running from the first render


def test_an_html_form_without_a_token_is_shown_again_with_a_fresh_one(client, web_form):
    response = post_form(client, b"first_name=Kim&email=kim%40example.com&consent=on")
    assert response.status_code == 400
    assert b"reload it and try again" in response.content
    assert 'name="_ts" value="' in response.content.decode()


# --- The door's check is the form's -----------------------------------------------------------

_TEXTS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "on", "true", "False", "0", "kim@example.com", "KIM@Example.COM ", "not-an-email",
         "(305) 555-0123", "+1 305 555 0123", "555", "33139", "33139-1234", "3313", "buyer",
         "seller", "nope", "https://sunrise.example/listing?id=1", "sunrise.example/a", "http://",
         "ab:cd-12.34_x", "short", "x" * 101, "y" * 256, "z" * 2001, "nul\x00byte"]
    ),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    fields=st.dictionaries(st.sampled_from(list(SubmissionForm.base_fields)), _TEXTS),
    consent_required=st.booleans(),
    marketing=st.booleans(),
)
def test_the_door_s_check_finds_what_the_form_finds(fields, consent_required, marketing):
    web_form = WebForm(
        public_key="k", name="Website", team_id=1, consent_required=consent_required,
        marketing_consent_text="New listings by email." if marketing else "",
    )  # fmt: skip
    form = SubmissionForm(fields, web_form=web_form)
    valid = form.is_valid()

    cleaned, errors = validate_submission(fields, web_form)

    form_errors = [(name, [str(e) for e in errs]) for name, errs in form.errors.items()]
    assert list(errors.items()) == form_errors  # the same messages, in the same order
    assert cleaned == form.cleaned_data
    assert valid == (not errors)


# --- Whatever arrives, never a 500 ------------------------------------------------------------

_FIELD_NAMES = st.sampled_from(
    [*SubmissionForm.base_fields, "website", "_ts", "__proto__", "", "ünïcode", "a" * 300]
)
_SHORT = st.text(max_size=5)
_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=300),
    st.lists(_SHORT, max_size=3), st.dictionaries(_SHORT, _SHORT, max_size=2),
)  # fmt: skip
_FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_FUZZ
@given(payload=st.dictionaries(_FIELD_NAMES, _VALUES, max_size=12))
def test_no_json_object_gives_a_server_error(client, web_form, token, payload):
    cache.clear()
    response = post_json(client, {**payload, "_ts": token})
    assert response.status_code in (200, 201, 400), response.content[:300]


@_FUZZ
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
         "multipart/form-data", "text/plain", "", "application/json; charset=latin-1"]
    ),
)  # fmt: skip
def test_no_body_gives_a_server_error(client, web_form, body, content_type):
    cache.clear()
    response = client.generic("POST", URL, body, content_type=content_type)
    assert response.status_code in (200, 201, 400, 413), response.content[:300]
