"""The Mailchimp backend against the fake server: paths, bodies, errors, retries."""

from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from integrations.marketing.base import (
    ErrorKind,
    MarketingError,
    MemberUpdate,
    Status,
    WebhookError,
    get_backend,
    sync_off_reason,
)
from integrations.marketing.mailchimp import MailchimpBackend, base_url, subscriber_hash


def backend() -> MailchimpBackend:
    found = get_backend()
    assert isinstance(found, MailchimpBackend)
    return found


def update(email: str = "Dana@Example.com", **kwargs) -> MemberUpdate:
    defaults = {
        "key": "contact-1",
        "email": email,
        "status_if_new": Status.SUBSCRIBED,
        "fields": {"first_name": "Dana", "zip": "33139"},
        "tags": {"source:webform": True},
    }
    return MemberUpdate(**{**defaults, **kwargs})


def test_the_member_hash_is_the_md5_of_the_lower_cased_email():
    expected = hashlib.md5(b"dana@example.com").hexdigest()  # noqa: S324 - Mailchimp's id
    assert subscriber_hash(" Dana@Example.COM ") == expected


def test_the_data_centre_comes_from_the_key_unless_a_base_url_is_set(settings):
    settings.MAILCHIMP_API_BASE_URL = ""
    settings.MAILCHIMP_API_KEY = "0123456789abcdef-us19"
    assert base_url() == "https://us19.api.mailchimp.com/3.0"
    settings.MAILCHIMP_API_BASE_URL = "http://127.0.0.1:9/3.0/"
    assert base_url() == "http://127.0.0.1:9/3.0"


def test_sync_is_off_and_says_which_settings_are_missing(settings):
    settings.MARKETING_BACKEND = "integrations.marketing.mailchimp.MailchimpBackend"
    settings.MAILCHIMP_API_KEY = ""
    settings.MAILCHIMP_AUDIENCE_ID = ""
    assert (
        sync_off_reason() == "Mailchimp sync is off: set MAILCHIMP_API_KEY, MAILCHIMP_AUDIENCE_ID."
    )
    settings.MARKETING_BACKEND = ""
    assert "MARKETING_BACKEND is empty" in sync_off_reason()


def test_it_upserts_with_the_hash_path_and_status_if_new_only(mailchimp):
    status = backend().upsert(update())

    put = mailchimp.requests_to("PUT")[0]
    assert put.path == f"/3.0/lists/aud123/members/{hashlib.md5(b'dana@example.com').hexdigest()}"  # noqa: S324
    assert put.body == {
        "email_address": "Dana@Example.com",
        "status_if_new": "subscribed",
        "merge_fields": {"FNAME": "Dana", "ZIP": "33139"},
    }
    assert "status" not in put.body
    assert status == "subscribed"
    tags = mailchimp.requests_to("POST", "/tags$")[0]
    assert tags.body == {
        "tags": [{"name": "source:webform", "status": "active"}],
        "is_syncing": False,
    }


def test_it_creates_the_merge_fields_it_needs_once(mailchimp):
    backend().upsert(update())
    backend().upsert(update(email="eve@example.com"))

    created = {c.body["tag"] for c in mailchimp.requests_to("POST", "/merge-fields$")}
    assert created == {"SOURCE", "LEADTYPE", "STAGE", "AGENT", "ZIP"}
    assert len(mailchimp.requests_to("GET", "/merge-fields$")) == 1


def test_it_never_changes_an_existing_members_status_without_being_asked(mailchimp):
    mailchimp.add_member("dana@example.com", "unsubscribed")

    status = backend().upsert(update())

    assert status == "unsubscribed"
    assert mailchimp.member("dana@example.com")["status"] == "unsubscribed"


def test_it_retries_a_429_and_succeeds(mailchimp):
    mailchimp.fail_next.append((429, "Too Many Requests", "You have exceeded the limit."))

    backend().upsert(update())

    assert mailchimp.member("dana@example.com")["status"] == "subscribed"


@pytest.mark.parametrize(
    ("status", "title", "detail", "kind"),
    [
        (400, "Member In Compliance State", "in a compliance state", ErrorKind.PERMANENT),
        (400, "Forgotten Email Not Subscribed", "permanently deleted", ErrorKind.PERMANENT),
        (400, "Invalid Resource", "Your merge fields were invalid.", ErrorKind.PERMANENT),
        (400, "Invalid Resource", "has signed up to a lot of lists very recently", ErrorKind.RETRY),
        (401, "API Key Invalid", "Your API key may be invalid.", ErrorKind.CONFIGURATION),
        (
            404,
            "Resource Not Found",
            "The requested resource could not be found.",
            ErrorKind.CONFIGURATION,
        ),
        (503, "Service Unavailable", "", ErrorKind.RETRY),
    ],
)
def test_it_classifies_problem_json_errors(mailchimp, status, title, detail, kind):
    backend().ensure_merge_fields()
    mailchimp.fail_next.extend([(status, title, detail)] * 3)

    with pytest.raises(MarketingError) as caught:
        backend().upsert(update())

    assert caught.value.kind is kind
    assert backend().classify(caught.value) is kind
    assert title in str(caught.value)


def test_no_more_calls_are_in_flight_than_allowed(settings, mailchimp):
    settings.MAILCHIMP_MAX_CONNECTIONS = 3
    mailchimp.delay_seconds = 0.1
    path = "/lists/aud123/merge-fields"
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: backend().call("GET", path).status_code, range(12)))

    assert answers == [200] * 12
    assert mailchimp.most_in_flight == 3


def test_a_timeout_or_a_refused_connection_is_worth_retrying(settings, mailchimp):
    settings.MAILCHIMP_API_BASE_URL = "http://127.0.0.1:9/3.0"  # nothing listens there

    with pytest.raises(MarketingError) as caught:
        backend().call("GET", "/ping", retries=0)

    assert caught.value.kind is ErrorKind.RETRY


def test_a_wrong_key_is_a_configuration_error(settings, mailchimp):
    settings.MAILCHIMP_API_KEY = "wrong-us19"

    with pytest.raises(MarketingError) as caught:
        backend().upsert(update())

    assert caught.value.kind is ErrorKind.CONFIGURATION


def test_changes_since_pages_through_members_changed_since(mailchimp):
    for n in range(3):
        mailchimp.add_member(f"m{n}@example.com", "subscribed", FNAME=f"M{n}")
    mailchimp.members[subscriber_hash("m0@example.com")]["last_changed"] = (
        "2020-01-01T00:00:00+00:00"
    )

    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    members = list(backend().changes_since(since))

    assert sorted(m.email for m in members) == ["m1@example.com", "m2@example.com"]
    assert members[0].fields == {"first_name": members[0].fields["first_name"]}
    assert mailchimp.requests_to("GET", "/members$")[0].query["since_last_changed"]


def test_parse_webhook_refuses_a_body_without_a_type(mailchimp):
    with pytest.raises(WebhookError, match="type"):
        backend().parse_webhook(
            b"fired_at=2026-11-30+10%3A00%3A00", "application/x-www-form-urlencoded"
        )


def test_bulk_upsert_goes_through_batches_and_reports_failed_operations(mailchimp):
    mailchimp.forgotten.add("gone@example.com")
    updates = [update(key=f"contact-{n}", email=f"p{n}@example.com") for n in range(4)]
    updates.append(update(key="contact-9", email="gone@example.com", tags={}))

    batch_id = backend().bulk_upsert(updates)
    for _ in range(10):  # pending, preprocessing, started, half done, finished
        progress = backend().bulk_progress(batch_id)
        if progress.is_done:
            break

    assert progress.total == 9  # four members with tags, one without
    assert progress.errored == 1
    assert [(o.key, o.kind) for o in progress.outcomes] == [
        ("contact-9:member", ErrorKind.PERMANENT)
    ]
    assert "Forgotten Email Not Subscribed" in progress.outcomes[0].error
    assert mailchimp.member("p3@example.com")["status"] == "subscribed"


def test_system_checks_name_a_half_made_configuration(settings):
    from integrations.marketing.checks import check_marketing_settings

    settings.MARKETING_BACKEND = "integrations.marketing.mailchimp.MailchimpBackend"
    settings.MAILCHIMP_API_KEY = "0123-us19"
    settings.MAILCHIMP_AUDIENCE_ID = ""
    settings.MARKETING_WITHOUT_CONSENT = "subscribe"
    settings.MARKETING_NEW_STATUS = "subscribed"

    ids = sorted(str(message.id) for message in check_marketing_settings())

    assert ids == ["marketing.E102", "marketing.W101"]
    settings.MARKETING_BACKEND = "leads.models.Contact"
    assert "marketing.E101" in [m.id for m in check_marketing_settings()]
