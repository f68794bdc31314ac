"""The README's walk-through in a real browser: send the demo form, find the lead in the admin."""

from __future__ import annotations

import io
import os
import time
from base64 import b32decode
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse
from django_otp.oath import TOTP

from leads.models import Lead

# Set SCREENSHOTS=docs/screenshots to refresh the pictures the README shows.
SCREENSHOTS = Path(os.environ["SCREENSHOTS"]) if os.environ.get("SCREENSHOTS") else None


# The look of a text field, to compare the phone field with the email field.
LOOK = """(selector) => {
  const style = getComputedStyle(document.querySelector(selector));
  return [style.borderRadius, style.padding, style.borderColor, style.width];
}"""


@pytest.mark.django_db(transaction=True)
def test_a_visitor_submits_the_demo_form_and_operations_see_the_lead_assigned_by_zip(
    live_server, phone, run_queue, settings, axe
):
    call_command("demo", stdout=io.StringIO())
    settings.WEBFORM_MIN_FILL_SECONDS = 1.0

    phone.goto(f"{live_server.url}/forms/sunrise-demo/")
    assert phone.title() == "Find your next home in South Florida"
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone
    assert phone.evaluate(LOOK, "#id_phone") == phone.evaluate(LOOK, "#id_email")
    axe(phone)
    phone.fill("#id_first_name", "Jordan")
    phone.fill("#id_last_name", "Avery")
    phone.fill("#id_email", "jordan@example.com")
    phone.fill("#id_phone", "(305) 555-0147")
    phone.fill("#id_zip_code", "33139")
    phone.fill("#id_message", "Can we see the condo on Saturday?")
    phone.check("#id_consent")
    time.sleep(1.1)  # a person takes longer than the form's minimum fill time
    if SCREENSHOTS:
        phone.screenshot(path=str(SCREENSHOTS / "webform-phone.png"), full_page=True)
    phone.click("button[type=submit]")
    phone.wait_for_selector("text=Thank you!")

    assert run_queue() >= 1
    lead = Lead.objects.get()
    assert lead.assigned_agent is not None
    assert lead.assigned_agent.display_name == "Alex Carter"

    # Operations sign in as production asks: password, then an authenticator app enrolled from
    # the QR code's key (typed in, as a person without a camera would), then its code.
    settings.ADMIN_2FA_REQUIRED = True
    phone.goto(f"{live_server.url}/admin/login/?next=/admin/leads/lead/")
    phone.fill("#id_username", "admin")
    phone.fill("#id_password", "leadline-demo")
    phone.click("input[type=submit]")
    phone.wait_for_selector(".two-factor svg")
    key = b32decode(phone.inner_text("code.secret").replace(" ", ""))
    phone.fill("#id_code", f"{TOTP(key).token():06d}")
    phone.click("input[type=submit]")
    phone.wait_for_selector("#result_list")
    row = phone.inner_text("#result_list tbody tr")
    assert "Jordan Avery" in row
    assert "Alex Carter" in row
    assert "33139" in row

    phone.click("#result_list tbody tr th a")
    phone.wait_for_selector("text=territory Miami Beach by ZIP 33139")

    # The request as it arrived, in the admin: its raw body laid out a field a line, within
    # the screen (the form's body is one long line of fields as sent).
    event = next(m for m in apps.get_models() if m.__name__ == "InboundEvent")
    meta = event._meta
    phone.goto(live_server.url + reverse(
        f"admin:{meta.app_label}_{meta.model_name}_change", args=[lead.raw_event_id]
    ))  # fmt: skip
    body = phone.locator(".field-raw_body pre")
    assert "first_name=Jordan\n&last_name=Avery" in body.inner_text()
    assert body.evaluate("pre => pre.scrollWidth <= pre.clientWidth")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    # Every list and add page the admin's index links to, with their widgets' scripts (the
    # watch in conftest.py fails the test on any Content-Security-Policy violation).
    response = phone.goto(f"{live_server.url}/admin/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    pages = phone.eval_on_selector_all(
        "#content-main a[href^='/admin/']", "links => links.map(link => link.pathname)"
    )
    assert "/admin/leads/territory/add/" in pages
    for page in dict.fromkeys(pages):
        assert phone.goto(f"{live_server.url}{page}").ok, page
        phone.wait_for_load_state("load")
    phone.goto(f"{live_server.url}/admin/leads/territory/add/")
    phone.wait_for_selector("#id_agents_from")  # the two-box picker, drawn by the admin's script
