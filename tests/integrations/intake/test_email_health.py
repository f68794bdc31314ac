"""A vendor's lead emails suddenly failing (its template changed): on the health page, and
mailed to ADMINS once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from integrations.intake.models import InboundEvent
from integrations.intake.sources.email.health import email_vendor_alerts, email_vendor_failures
from integrations.intake.sources.email.source import email_store

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def intake_domain(settings):
    settings.EMAIL_INTAKE_DOMAIN = "leads.example.com"
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_VENDOR_ALERT_MIN_FAILURES = 3


def zillow_fails(count: int, run_queue, first: int = 0) -> None:
    raw = (FIXTURES / "zillow__changed_template.eml").read_bytes()
    for n in range(first, first + count):
        email_store(raw=raw.replace(b"8842@", f"8842-{n}@".encode()), door="pipe")
    run_queue()


def test_a_sudden_rise_is_shown_on_the_health_page_and_mailed_once(team, admin_client, run_queue):
    zillow_fails(3, run_queue)

    [row] = email_vendor_failures()
    assert (row.label, row.last_hour, row.day_before, row.rising) == (
        "Zillow Premier Agent email", 3, 0, True,
    )  # fmt: skip
    page = admin_client.get(reverse("admin:intake_leadsource_changelist"))
    assert b"Zillow Premier Agent email" in page.content
    assert b"email-vendor-failing" in page.content

    assert email_vendor_alerts() == ["Zillow Premier Agent email"]
    assert email_vendor_alerts() == []  # once
    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert message.subject.endswith("Lead emails failing: Zillow Premier Agent email")
    assert "3 lead email(s)" in message.body


def test_a_few_failures_or_a_usual_rate_raise_nothing(team, run_queue):
    zillow_fails(2, run_queue)
    assert not any(row.rising for row in email_vendor_failures())

    # Three this hour, but the vendor failed as often every hour of the day before.
    zillow_fails(1, run_queue, first=2)
    earlier = timezone.now() - dt.timedelta(hours=5)
    for n in range(72):
        event = InboundEvent.objects.filter(source="email", status="failed").first()
        assert event is not None
        InboundEvent.objects.create(
            source="email", body=b"", status="failed", error=event.error,
            external_id=f"old-{n}",
        )  # fmt: skip
    InboundEvent.objects.filter(external_id__startswith="old-").update(received_at=earlier)
    [row] = email_vendor_failures()
    assert (row.last_hour, row.day_before, row.rising) == (3, 72, False)
    assert email_vendor_alerts() == []
    assert mail.outbox == []
