"""An inbox left open on a phone keeps itself up to date: a lead captured meanwhile appears
in it, and one escalated to someone else leaves it, without a reload (htmx polling answered
304 while nothing changed), and the agent stays on the page of the list they scrolled to. And
the header's one-tap pause."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads.data import LeadData
from leads.models import Agent, Contact, Lead
from leads.services import lead_capture, leads_escalate
from tests.e2e.test_agent_app import sign_in


def capture_for(agent: Agent, name: str) -> Lead:
    """A Miami Beach inquiry (round robin between Alex and Bella) that goes to ``agent``."""
    for n in range(4):
        data = LeadData(
            source="webform", external_id=f"live-{name}-{n}", received_at=timezone.now(),
            first_name=name, last_name="Live", email=f"{name.lower()}{n}@example.com",
            property_zip="33139", lead_type="buyer", message="Is it still available?",
        )  # fmt: skip
        lead = lead_capture(data=data).lead
        if lead.assigned_agent_id == agent.pk:
            return lead
        Lead.objects.filter(pk=lead.pk).delete()
    raise AssertionError(f"no lead went to {agent}")


def worked_leads_for(agent: Agent, count: int) -> None:
    """``count`` people whose leads ``agent`` accepted days ago: a second page of the inbox."""
    received = timezone.now() - dt.timedelta(days=3)
    for n in range(count):
        contact = Contact.objects.create(
            first_name="Worked", last_name=f"Person{n:02d}", email=f"worked{n}@example.com"
        )
        Lead.objects.create(
            contact=contact, team=agent.team, source="webform", external_id=f"worked-{n}",
            received_at=received, assigned_agent=agent, assigned_at=received,
            accepted_at=received, status=Lead.Status.CONTACTED,
        )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_an_open_inbox_shows_a_new_lead_and_loses_an_escalated_one_without_a_reload(
    live_server, phone, axe, settings
):
    settings.LIVE_POLL_SECONDS = 1
    call_command("demo", stdout=io.StringIO())
    alex = Agent.objects.get(user__username="alex")
    worked_leads_for(alex, 30)
    base = live_server.url
    statuses: list[int] = []
    phone.on("response", lambda r: statuses.append(r.status) if "/?" in r.url else None)

    sign_in(phone, base, "alex")
    # Further down the list: "More leads" loads page 2 and the address says so.
    phone.get_by_role("link", name="More leads").click()
    phone.wait_for_url(f"{base}/?page=2")
    rows = phone.locator("#lead-list li.row")
    last = rows.last.get_attribute("id")
    shown = rows.count()
    assert shown > 25
    phone.evaluate("window.stillThisPage = true")
    phone.wait_for_timeout(2500)
    assert 304 in statuses  # asked, and nothing had changed

    lead = capture_for(alex, "Quinn")
    row = phone.locator(f"#row-{lead.pk}")
    row.wait_for(timeout=10_000)
    assert "Quinn Live" in row.inner_text()
    assert row.get_by_role("button", name="Accept").is_visible()
    assert phone.evaluate("window.stillThisPage") is True  # no reload
    assert phone.locator(f"#{last}").is_visible()  # still on page 2, not back to page 1
    assert rows.count() == shown + 1
    axe(phone)

    Lead.objects.filter(pk=lead.pk).update(sla_due_at=timezone.now())
    assert leads_escalate() == 1
    lead.refresh_from_db()
    assert lead.assigned_agent is not None
    assert lead.assigned_agent.display_name == "Bella Nguyen"
    row.wait_for(state="detached", timeout=10_000)
    assert phone.evaluate("window.stillThisPage") is True

    # Pause my leads: one tap in the header, told in the status line, one more to resume.
    phone.get_by_role("button", name="Pause my leads").click()
    phone.wait_for_selector("#pause-button[aria-pressed=true]")
    assert "Paused: no new leads come to you" in phone.inner_text("#flash")
    alex.refresh_from_db()
    assert alex.is_paused
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    axe(phone)
    phone.get_by_role("button", name="Pause my leads").click()
    phone.wait_for_selector("#pause-button[aria-pressed=false]")
    alex.refresh_from_db()
    assert not alex.is_paused


@pytest.mark.django_db(transaction=True)
def test_the_app_installs_and_offers_notifications_on_the_settings_page(
    live_server, phone, axe, settings
):
    from integrations.alerts.push import vapid_keys

    settings.WEBPUSH_VAPID_PUBLIC_KEY, settings.WEBPUSH_VAPID_PRIVATE_KEY = vapid_keys()
    call_command("demo", stdout=io.StringIO())
    base = live_server.url
    sign_in(phone, base, "alex")
    # The service worker runs for the whole app, from the site's root.
    assert phone.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)") == f"{base}/"
    manifest = phone.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then((r) => r.json())"
    )
    assert (manifest["display"], manifest["start_url"]) == ("standalone", "/")

    phone.goto(f"{base}/settings/")
    button = phone.get_by_role("button", name="Turn on notifications on this device")
    button.wait_for()
    assert button.is_visible()
    assert "No device gets notifications yet." in phone.inner_text("#push-devices")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    axe(phone)
