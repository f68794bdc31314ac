"""An agent's follow-up, whole, in a real browser: tap Call, come back to the page and say how
it went (only "talked" is first contact), set a follow-up for tomorrow in two taps, find it
in Today the next day (the server's clock moved on a day), on a phone and on a desktop, and
the person's whole history on one page when they write again; axe-core on every page (no
serious or critical violation)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads.data import LeadData
from leads.followups import agent_zone
from leads.models import Activity, Agent, Task
from leads.services import lead_capture
from tests.e2e.test_agent_app import PASSWORD, capture_demo_leads, shoot, sign_in


def section(page, title_id: str) -> str:
    return page.locator(f"section:has(#{title_id})").inner_text()


@pytest.mark.django_db(transaction=True)
def test_a_call_with_its_outcome_and_a_follow_up_found_in_today_tomorrow(
    live_server, phone, desktop, axe, clock
):
    call_command("demo", stdout=io.StringIO())
    jordan = capture_demo_leads()["Jordan"]
    alex = Agent.objects.get(user__username="alex")
    assert jordan.assigned_agent == alex
    base = live_server.url
    sign_in(phone, base, "alex")

    phone.goto(f"{base}/leads/{jordan.pk}/")
    phone.get_by_role("button", name="Accept this lead").click()
    phone.wait_for_selector(".person .badge:has-text('Accepted')")

    # Call: the phone app takes the screen; back on the page, it asks how the call went.
    phone.evaluate(
        "document.querySelector('a.action.call').addEventListener('click', e => e.preventDefault())"
    )
    phone.click("a.action.call")
    assert not phone.is_visible("#call-after")  # not while dialling
    phone.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # back in the app
    phone.wait_for_selector("#call-after[open]")
    axe(phone)
    phone.locator("#call-after").get_by_role("button", name="No answer").click()
    phone.wait_for_selector(".timeline >> text=Alex Carter called: no answer")
    assert not phone.is_visible("#call-after")
    jordan.refresh_from_db()
    assert jordan.first_contact_at is None  # no answer: speed to contact still waits
    phone.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    assert not phone.is_visible("#call-after")  # asked once per call

    # A follow-up in two taps: the kind (a call, already chosen) and "Tomorrow 10:00".
    phone.get_by_role("button", name="Tomorrow 10:00").click()
    phone.wait_for_selector("text=Follow-up set: call")
    phone.wait_for_selector("#follow-ups .task")
    task = Task.objects.get(lead=jordan)
    local = task.due_at.astimezone(agent_zone(alex))
    assert local.time() == dt.time(10, 0)
    assert local.date() == timezone.now().astimezone(agent_zone(alex)).date() + dt.timedelta(days=1)
    axe(phone)

    phone.goto(f"{base}/today/")  # today: it is not due yet, it comes up this week
    assert f"Call {jordan.contact.full_name}" in section(phone, "upcoming-title")
    assert "Nothing overdue." in section(phone, "overdue-title")

    # The next morning at 9:00, the agent's time: due today, Call and Done in reach.
    tomorrow_nine = dt.datetime.combine(local.date(), dt.time(9, 0), tzinfo=agent_zone(alex))
    real_now = clock.real_now
    clock(seconds=(tomorrow_nine - real_now()).total_seconds())
    # A night later: whether the 12-hour session has run out by 9:00 depends on the hour
    # the test runs, so the phone's cookies go, and the agent signs in again either way.
    phone.context.clear_cookies()
    phone.goto(f"{base}/leads/{jordan.pk}/")
    phone.fill("#id_username", "alex")
    phone.fill("#id_password", PASSWORD)
    phone.click("button[type=submit]")
    phone.get_by_role("link", name="Today", exact=True).click()
    phone.wait_for_selector("#today-title")
    due = section(phone, "today-title")
    assert f"Call {jordan.contact.full_name}" in due
    assert phone.get_attribute(f"#task-{task.pk} a[href^='tel:']", "href") == (
        f"tel:{jordan.contact.phone}"
    )
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    axe(phone)
    shoot(phone, "agent-today.png")

    # On a desktop, the same day: the manager-width page keeps to its column, accessible.
    sign_in(desktop, base, "alex")
    desktop.goto(f"{base}/today/")
    assert f"Call {jordan.contact.full_name}" in section(desktop, "today-title")
    axe(desktop)

    # At 10:30 it is overdue; talked this time, then Done from Today.
    clock(seconds=(tomorrow_nine - real_now() + dt.timedelta(minutes=90)).total_seconds())
    phone.goto(f"{base}/today/")
    assert f"Call {jordan.contact.full_name}" in section(phone, "overdue-title")
    phone.click(f"#task-{task.pk} a.row-link")
    phone.locator("#log-call").get_by_role("button", name="Talked").click()
    phone.wait_for_selector(".timeline >> text=Alex Carter called: talked")
    jordan.refresh_from_db()
    assert jordan.first_contact_at is not None
    phone.goto(f"{base}/today/")
    phone.locator(f"#task-{task.pk}").get_by_role("button", name="Done").click()
    phone.wait_for_selector(f"#task-{task.pk}", state="detached")
    assert Task.objects.get(pk=task.pk).status == Task.Status.DONE
    assert Activity.objects.filter(lead=jordan, kind=Activity.Kind.TASK_DONE).exists()

    # Jordan writes again: one page for the person, both inquiries, one history.
    again = lead_capture(
        data=LeadData(
            source="realtor", external_id="again-1", received_at=timezone.now(),
            first_name=jordan.contact.first_name, last_name=jordan.contact.last_name,
            email=jordan.contact.email, phone=jordan.contact.phone, property_zip="33139",
            lead_type="seller", message="Also thinking of selling my condo.",
        )
    ).lead  # fmt: skip
    assert again.contact_id == jordan.contact_id
    phone.goto(f"{base}/leads/{jordan.pk}/")
    phone.get_by_role("link", name="All 2 inquiries and everything that happened").click()
    phone.wait_for_selector("#history-title")
    assert phone.locator(".inquiry-list li").count() == 2
    history = phone.inner_text(".timeline")
    for said in ("called: no answer", "called: talked", "set a follow-up", "follow-up (call) done"):
        assert said in history, said
    assert "Seller via realtor" in history
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    axe(phone)
    shoot(phone, "agent-person.png")
