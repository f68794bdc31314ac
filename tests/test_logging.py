"""Secrets never reach a log: the redacting filter on every handler (crm/logging.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.core import mail
from django.test import RequestFactory

from crm.logging import RedactingExceptionReporter, RedactSecrets, redact

TOKEN = "Zq8vN3kLr2Xw9PfT4bYh"


def handler_output(handler: logging.Handler) -> Iterator[io.StringIO]:
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the console handler (the production log) writes."""
    [handler] = [h for h in logging.root.handlers if h.get_name() == "console"]
    yield from handler_output(handler)


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """What runserver's request log writes."""
    [handler] = [h for h in logging.getLogger("django.server").handlers if h.get_name()]
    yield from handler_output(handler)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Gone: /hooks/zillow-rentals/{TOKEN}/", "Gone: /hooks/zillow-rentals/[redacted]/"),
        (f"Not Found: /hooks/mailchimp/{TOKEN}", "Not Found: /hooks/mailchimp/[redacted]"),
        (
            f'"POST /hooks/mailchimp/{TOKEN}/?x=1 HTTP/1.1" 404',
            '"POST /hooks/mailchimp/[redacted]/?x=1 HTTP/1.1" 404',
        ),
        (
            f"GET https://graph.facebook.com/v25.0/123?fields=id&access_token={TOKEN}&x=1",
            "GET https://graph.facebook.com/v25.0/123?fields=id&access_token=[redacted]&x=1",
        ),
        (
            f"/hooks/facebook/?hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=9",
            "/hooks/facebook/?hub.mode=subscribe&hub.verify_token=[redacted]&hub.challenge=9",
        ),
        (f"/x?token={TOKEN}", "/x?token=[redacted]"),
        (f"/x?key={TOKEN}&api_key={TOKEN}", "/x?key=[redacted]&api_key=[redacted]"),
        (f"/oauth/?state=s1&code={TOKEN}", "/oauth/?state=[redacted]&code=[redacted]"),
        (f"access_token = '{TOKEN}'", "access_token = '[redacted]'"),
        (f"{{'access_token': '{TOKEN}', 'id': '7'}}", "{'access_token': '[redacted]', 'id': '7'}"),
        (f'{{"password": "{TOKEN}", "user": "ops"}}', '{"password": "[redacted]", "user": "ops"}'),
        (f"redis://:{TOKEN}@redis.internal:6379/0", "redis://:[redacted]@redis.internal:6379/0"),
        (f"https://zillow:{TOKEN}@leads.example.com/hooks/zillow/", "https://zillow:[redacted]@leads.example.com/hooks/zillow/"),
        (f"{{'Authorization': 'Bearer {TOKEN}'}}", "{'Authorization': '[redacted]'}"),
        (f"Authorization: Basic {TOKEN}", "Authorization: Basic [redacted]"),
    ],
)  # fmt: skip
def test_it_redacts_secrets_in_paths_queries_pairs_urls_and_headers(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Not Found: /hooks/twilio/status/",
        "Method Not Allowed: /hooks/zillow/",
        "GET /forms/sunrise-demo/ HTTP/1.1",
        "alert 12 failed for good: Twilio refused the number (21211)",
        "https://leads.example.com/leads/42/?page=2",
    ],
)
def test_it_leaves_text_without_secrets_alone(text):
    assert redact(text) == text


def test_it_redacts_the_value_of_every_secret_setting_wherever_it_stands(settings):
    settings.TWILIO_AUTH_TOKEN = "twilio-auth-token-value"
    settings.MAILCHIMP_API_KEY = "0123456789abcdef0123456789abcdef-us19"
    settings.FIELD_ENCRYPTION_KEY = ["fernet-key-number-one", "fernet-key-number-two"]
    settings.ZILLOW_BASIC_AUTH = "zillow:basic-password"
    text = (
        "twilio-auth-token-value rejected; key 0123456789abcdef0123456789abcdef-us19; "
        "fernet-key-number-two; zillow:basic-password"
    )
    assert redact(text) == "[redacted] rejected; key [redacted]; [redacted]; [redacted]"


def test_djangos_4xx_warning_with_a_hook_token_in_its_path_is_redacted(client, db, console):
    response = client.post(f"/hooks/zillow-rentals/{TOKEN}/", {"name": "x"})
    assert response.status_code == 404
    client.get(f"/hooks/mailchimp/{TOKEN}/")
    log = console.getvalue()
    assert "WARNING django.request Not Found: /hooks/zillow-rentals/[redacted]/" in log
    assert "WARNING django.request Not Found: /hooks/mailchimp/[redacted]/" in log
    assert TOKEN not in log


def test_the_configured_hook_token_is_redacted_in_a_refused_request(client, db, settings, console):
    settings.MAILCHIMP_WEBHOOK_TOKEN = TOKEN
    response = client.put(f"/hooks/mailchimp/{TOKEN}/", "x")
    assert response.status_code >= 400
    log = console.getvalue()
    assert "django.request" in log
    assert TOKEN not in log


def test_runservers_request_lines_are_redacted(server_log):
    logging.getLogger("django.server").info(
        '"%s" %s %s', f"GET /hooks/zillow-rentals/{TOKEN}/ HTTP/1.1", "404", "179"
    )
    assert '"GET /hooks/zillow-rentals/[redacted]/ HTTP/1.1" 404 179' in server_log.getvalue()
    assert TOKEN not in server_log.getvalue()


def test_an_exceptions_text_is_redacted(console):
    try:
        raise ConnectionError(f"GET /v25.0/me?access_token={TOKEN} failed")
    except ConnectionError:
        logging.getLogger("integrations.sources.facebook").exception("backfill stopped")
    log = console.getvalue()
    assert "ConnectionError: GET /v25.0/me?access_token=[redacted] failed" in log
    assert TOKEN not in log


def test_the_email_to_admins_about_a_500_is_redacted(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    request = RequestFactory().get(
        f"/hooks/mailchimp/{TOKEN}/", {"access_token": TOKEN}, HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("django.request").error(
            "Internal Server Error: %s",
            request.path,
            exc_info=True,
            extra={"status_code": 500, "request": request},
        )
    [email] = mail.outbox
    assert "/hooks/mailchimp/[redacted]/" in email.subject
    assert "/hooks/mailchimp/[redacted]/" in email.body
    assert "RuntimeError at /hooks/mailchimp/[redacted]/\nboom" in email.body
    assert TOKEN not in f"{email.subject} {email.body}"


def test_the_html_report_is_the_redacted_text_one():
    request = RequestFactory().get(f"/hooks/zillow-rentals/{TOKEN}/", {"access_token": TOKEN})
    html = RedactingExceptionReporter(request, None, None, None).get_traceback_html()
    assert html.startswith("<!doctype html><pre>")
    assert "/hooks/zillow-rentals/[redacted]/" in html
    assert "access_token = &#x27;[redacted]&#x27;" in html
    assert TOKEN not in html


def test_every_handler_of_every_logger_redacts(settings):
    assert all("redact" in h.get("filters", []) for h in settings.LOGGING["handlers"].values())
    loggers = [logging.root, *logging.root.manager.loggerDict.values()]
    handlers = {
        handler
        for logger in loggers
        if isinstance(logger, logging.Logger)
        for handler in logger.handlers
        if not type(handler).__module__.startswith("_pytest")  # pytest's capture
        and not isinstance(handler, logging.NullHandler)  # libraries' silence
    }
    assert handlers  # the console, runserver's log and the mail to ADMINS
    for handler in handlers:
        assert any(isinstance(f, RedactSecrets) for f in handler.filters), handler
