"""The first week of an agent and a manager, in a real browser, where earlier versions let
them down: long unbroken words, Back after Accept, a session that expires with a note half
typed, a lead that went on to someone else, filters on a phone, and every page checked by
axe-core (no serious or critical violation)."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone

from leads.data import LeadData
from leads.models import Agent, Lead
from leads.services import lead_capture, leads_escalate
from tests.e2e.test_agent_app import PASSWORD, capture_demo_leads, sign_in

LONG_NAME = "Maximilianalexandrovichbartholomewvonmontgomeryhuntington"
LONG_URL = "https://www.example.com/l?ref=" + "oceandrivepenthouse" * 15


def capture_long_winded_lead() -> Lead:
    """A person whose name and message are one unbroken word each (Alex's, by its ZIP)."""
    data = LeadData(
        source="webform", external_id="long-1", received_at=timezone.now(),
        first_name=LONG_NAME, last_name="", email="max@example.com", phone="+13055550199",
        property_zip="33139", lead_type="buyer", message=f"Is this still available? {LONG_URL}",
    )  # fmt: skip
    return lead_capture(data=data).lead


# A menu's room for text (its width less padding and arrow) and its widest option's text.
ROOM_FOR_OPTIONS = """(selector) => {
  const menu = document.querySelector(selector), style = getComputedStyle(menu);
  const pen = document.createElement("canvas").getContext("2d");
  pen.font = style.font;
  const widest = Math.max(...[...menu.options].map((o) => pen.measureText(o.text).width));
  const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
  return [menu.clientWidth - padding - 20, widest];
}"""


def box(page, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return found


def fits(page, width: int) -> None:
    """Nothing wider than the screen: no sideways scroll, the tab bar whole."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    tabs = box(page, "nav.tabs")
    assert tabs["x"] >= 0
    assert tabs["x"] + tabs["width"] <= width


@pytest.mark.django_db(transaction=True)
def test_an_agents_day_on_a_phone_holds_up_where_it_used_to_break(
    live_server, phone, axe, settings
):
    # The open inbox must not update itself here: the test taps Accept on a row that went on
    # meanwhile (tests/e2e/test_live.py sees the row leave by itself).
    settings.LIVE_POLL_SECONDS = 3600
    call_command("demo", stdout=io.StringIO())
    leads = capture_demo_leads()
    jordan, sam = leads["Jordan"], leads["Sam"]
    max_ = capture_long_winded_lead()
    alex = Agent.objects.get(user__username="alex")
    assert max_.assigned_agent == alex
    base = live_server.url

    phone.goto(f"{base}/")
    phone.wait_for_selector("#id_username")
    axe(phone)  # the sign-in page: its button's contrast
    sign_in(phone, base, "alex")
    axe(phone)

    # A long unbroken name keeps to its side of the row: its countdown and Accept stay visible.
    fits(phone, 390)
    name = box(phone, f"#row-{max_.pk} .name")
    side = box(phone, f"#row-{max_.pk} .side")
    assert name["x"] + name["width"] <= side["x"]
    assert box(phone, f"#row-{max_.pk} button")["x"] + 10 < 390

    phone.click(f"#row-{max_.pk} a.row-link")
    phone.wait_for_selector("text=Work it")
    fits(phone, 390)
    axe(phone)

    # Back after Accept shows the lead as it is now, and a stale tap is answered kindly.
    phone.goto(f"{base}/")
    phone.click(f"#row-{jordan.pk} a.row-link")
    phone.get_by_role("button", name="Accept this lead").click()
    phone.wait_for_selector(".person .badge:has-text('Accepted')")
    phone.go_back()
    phone.wait_for_selector(f"#row-{jordan.pk}")
    assert "Accepted" in phone.inner_text(f"#row-{jordan.pk} .badge")
    assert phone.locator(f"#row-{jordan.pk} button:has-text('Accept')").count() == 0

    # The session expires while a note is being typed: sign in again, and the note is still there.
    phone.goto(f"{base}/leads/{jordan.pk}/")
    note = "Pre-approved to $800k, wants Saturday 10am"
    phone.fill("#id_text", note)
    Session.objects.all().delete()
    phone.get_by_role("button", name="Add note").click()
    phone.wait_for_url(re.compile(r"/accounts/login/\?next="))
    assert phone.locator("nav.tabs").count() == 0  # the sign-in page itself, not inside the app
    phone.fill("#id_username", "alex")
    phone.fill("#id_password", PASSWORD)
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{base}/leads/{jordan.pk}/")
    assert phone.input_value("#id_text") == note
    phone.get_by_role("button", name="Add note").click()
    phone.wait_for_selector(f".timeline >> text={note}")
    phone.reload()
    assert phone.input_value("#id_text") == ""  # saved, so no longer a draft

    # Jordan writes again: the inbox still lists Jordan once, on the new inquiry, with a way
    # to everything Jordan sent.
    data = LeadData(
        source="zillow", external_id="jordan-again", received_at=timezone.now(),
        first_name="Jordan", last_name="Avery", email="jordan.avery@example.com",
        property_zip="33139", lead_type="buyer", message="Also the one on Collins Ave?",
    )  # fmt: skip
    again = lead_capture(data=data).lead
    assert (again.contact_id, again.assigned_agent) == (jordan.contact_id, alex)
    phone.goto(f"{base}/")
    jordans = phone.locator("#lead-list li.row", has_text="Jordan Avery")
    assert jordans.count() == 1
    assert jordans.get_attribute("id") == f"row-{again.pk}"
    assert "Also the one on Collins Ave?" in jordans.inner_text()
    fits(phone, 390)
    axe(phone)
    jordans.get_by_role("link", name="2 inquiries").click()
    phone.wait_for_url(f"{base}/people/{jordan.contact_id}/")
    assert "Also the one on Collins Ave?" in phone.inner_text("main")

    # A lead that went on: the inbox row, the page and the alert's link all say what happened.
    phone.goto(f"{base}/")
    row = phone.locator(f"#row-{max_.pk}")
    assert row.get_by_role("button", name="Accept").is_visible()
    Lead.objects.filter(pk=max_.pk).update(sla_due_at=timezone.now() - dt.timedelta(seconds=1))
    leads_escalate()  # Riley too: 3 hours past her deadline
    max_.refresh_from_db()
    bella = max_.assigned_agent
    assert bella is not None
    assert bella.display_name == "Bella Nguyen"
    row.get_by_role("button", name="Accept").click()
    phone.wait_for_selector(f"#row-{max_.pk}.gone")
    said = phone.inner_text(f"#row-{max_.pk}")
    assert re.search(r"Reassigned to Bella Nguyen at \d+:\d\d [AP]M: not accepted in 5 min", said)
    response = phone.goto(f"{base}{max_.get_short_url()}")
    assert response.status == 200
    assert "This lead is no longer yours. Reassigned to Bella Nguyen" in phone.inner_text("main")
    fits(phone, 390)
    axe(phone)

    missing = phone.goto(f"{base}/leads/{sam.pk + 1000}/")
    assert missing.status == 404
    assert "There is nothing here" in phone.inner_text("main")
    axe(phone)

    phone.goto(f"{base}/settings/")
    axe(phone)  # every working-hours field labelled
    assert phone.locator("#id_time_zone option").count() < 15
    fits(phone, 390)


@pytest.mark.django_db(transaction=True)
def test_a_manager_reads_the_team_on_a_phone_and_at_a_desk(live_server, phone, desktop, axe):
    call_command("demo", stdout=io.StringIO())
    capture_demo_leads()
    max_ = capture_long_winded_lead()
    base = live_server.url

    sign_in(phone, base, "maria")
    fits(phone, 390)
    for control in ("#id_q", "select[name=status]", "select[name=source]",
                    "select[name=lead_type]", "label.check"):  # fmt: skip
        found = box(phone, control)
        assert found["x"] >= 0, control
        assert found["x"] + found["width"] <= 390, control  # whole on the screen
    for menu in ("status", "source", "lead_type"):  # and each menu wide enough to read
        room, widest = phone.evaluate(ROOM_FOR_OPTIONS, f"select[name={menu}]")
        assert widest <= room, menu
    axe(phone)
    phone.goto(f"{base}/dashboard/")
    fits(phone, 390)
    axe(phone)

    sign_in(desktop, base, "maria")
    desktop.goto(f"{base}/leads/{max_.pk}/")
    desktop.wait_for_selector("text=Work it")
    assert desktop.evaluate("document.documentElement.scrollWidth") <= 1280
    main = box(desktop, "main")
    message = box(desktop, ".inquiry blockquote")
    assert message["x"] + message["width"] <= main["x"] + main["width"]
    axe(desktop)
    desktop.goto(f"{base}/?q=MAXIMILIAN")
    assert LONG_NAME in desktop.inner_text("#lead-list")
    axe(desktop)

    # Every figure of the dashboard leads to the leads behind it: as many rows as it says.
    desktop.goto(f"{base}/dashboard/")
    figures = desktop.locator("table.conversion tbody a")
    assert figures.count() >= 6
    for n in (0, 1, figures.count() - 1):
        figure = desktop.locator("table.conversion tbody a").nth(n)
        shown = int(figure.inner_text().split()[0])
        figure.click()
        desktop.wait_for_url(re.compile(r"/\?each=inquiry"))
        assert desktop.locator("#lead-list li.row").count() == shown
        assert "Only leads" in desktop.inner_text("main")
        axe(desktop)
        desktop.go_back()
        desktop.wait_for_selector("table.conversion")
