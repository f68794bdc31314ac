"""The fake Mailchimp (``mailchimp``), switched on for a test: settings point at it, the
marketing sync is on. Used by the marketing tests and by the Mailchimp webhook source's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.marketing import base

from .marketing.fake_mailchimp import FakeMailchimp


@pytest.fixture
def mailchimp(settings) -> Iterator[FakeMailchimp]:
    fake = FakeMailchimp().start()
    settings.MARKETING_BACKEND = "integrations.marketing.mailchimp.MailchimpBackend"
    settings.MAILCHIMP_API_KEY = fake.api_key
    settings.MAILCHIMP_AUDIENCE_ID = fake.audience
    settings.MAILCHIMP_API_BASE_URL = fake.url
    settings.MAILCHIMP_WEBHOOK_TOKEN = "hook-secret-0123456789abcdef"
    settings.MARKETING_PUSH_DELAY_SECONDS = 0
    base._load.cache_clear()  # a new backend: it checks this server's merge fields again
    yield fake
    fake.stop()
    base._load.cache_clear()


@pytest.fixture
def queue_worker(monkeypatch) -> None:
    """This process is a queue worker, as django-q2 tells a worker it starts (``post_spawn``)."""
    from django_q.signals import post_spawn

    monkeypatch.setattr("integrations.lib.queue._worker", False)
    post_spawn.send(sender="django_q", proc_name="Worker-1")
