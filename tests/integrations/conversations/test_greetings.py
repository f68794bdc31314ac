"""The instant reply to a new lead: by SMS or email as consent allows, in the person's
daytime (DST included), once per person per window, in the team's and source's words."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from integrations.conversations.greetings import greeting_plan
from integrations.conversations.hours import lead_zones, next_daytime
from integrations.conversations.models import GreetingTemplate, Message
from integrations.conversations.services import messages_sweep
from leads.data import ConsentData, LeadData
from leads.models import Lead
from leads.services import lead_capture

from .conftest import PERSON, SMS_CONSENT, capture

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture(autouse=True)
def _greetings_on(settings: Any) -> None:
    settings.LEAD_GREETING_ENABLED = True


@pytest.fixture
def any_hour(settings: Any) -> None:
    settings.LEAD_SMS_HOURS = ""


def greetings() -> list[Message]:
    return list(Message.objects.filter(kind="greeting").order_by("id"))


def test_a_new_lead_with_sms_consent_is_texted_at_once_naming_their_agent(
    little_river, alice, twilio, run_queue, any_hour
):
    lead = capture()
    run_queue()
    [greeting] = greetings()
    assert (greeting.channel, greeting.status, greeting.lead_id) == ("sms", "sent", lead.pk)
    assert greeting.body == (
        "Hi Jordan, this is Alice with Miami. Thanks for your inquiry! "
        "Call or text me at +13055550100. Reply STOP to opt out."
    )
    texts = [s.form for s in twilio.sent if s.form.get("To") == PERSON]
    assert [t["Body"] for t in texts] == [greeting.body]
    assert texts[0]["StatusCallback"].endswith("/hooks/twilio/messages/status/")


def test_a_reply_left_by_a_worker_that_died_is_sent_by_the_sweeper_after_its_lease(
    little_river, alice, twilio, run_queue, any_hour, queue_worker
):
    capture()
    connection.run_on_commit.clear()  # the worker died after the commit, before sending it
    [greeting] = greetings()
    assert (greeting.status, greeting.attempts) == ("queued", 1)  # written claimed for it
    assert messages_sweep() == 0  # held while its lease runs

    Message.objects.filter(pk=greeting.pk).update(next_attempt_at=timezone.now())  # it ran out
    assert messages_sweep() == 1
    run_queue()

    greeting.refresh_from_db()
    assert (greeting.status, greeting.attempts) == ("sent", 2)
    texts = [s.form["Body"] for s in twilio.sent if s.form.get("To") == PERSON]
    assert texts == [greeting.body]


def test_before_routing_picks_an_agent_the_reply_names_the_team(team, twilio, run_queue, any_hour):
    capture(zip="33133")  # nobody covers it: the pool
    run_queue()
    assert greetings()[0].body == (
        "Hi Jordan, this is Miami. Thanks for your inquiry! Reply STOP to opt out."
    )


def test_without_sms_consent_the_reply_is_an_email(
    little_river, alice, twilio, run_queue, any_hour
):
    now = timezone.now()
    data = LeadData(
        source="webform", external_id="mail-1", received_at=now, first_name="Jordan",
        email="jordan@example.net", phone=PERSON, property_zip="33150",
        consents=(
            ConsentData("sms", False, SMS_CONSENT, now),
            ConsentData("email", True, "Email me", now),
        ),
    )  # fmt: skip
    lead_capture(data=data)
    run_queue()
    [greeting] = greetings()
    assert (greeting.channel, greeting.status, greeting.to) == (
        "email",
        "sent",
        "jordan@example.net",
    )
    [email] = [m for m in mail.outbox if m.to == ["jordan@example.net"]]
    assert email.subject == "Thanks for your inquiry"
    assert "I'm Alice" in email.body
    assert not [s for s in twilio.sent if s.form.get("To") == PERSON]


def test_without_any_consent_nobody_is_answered(little_river, twilio, run_queue, any_hour):
    capture(sms=None)
    run_queue()
    assert greetings() == []


def test_a_test_lead_is_never_answered(little_river, twilio, run_queue, any_hour):
    capture(is_test=True)
    run_queue()
    assert greetings() == []


def test_a_repeat_inquiry_within_the_window_is_not_a_new_greeting(
    little_river, twilio, run_queue, any_hour, settings
):
    capture(1, email="jordan@example.net")
    capture(2, email="jordan@example.net")
    run_queue()
    assert len(greetings()) == 1
    settings.LEAD_GREETING_WINDOW_HOURS = 0
    capture(3, email="jordan@example.net")
    run_queue()
    assert len(greetings()) == 2


def test_the_teams_template_for_the_source_wins(little_river, team, twilio, run_queue, any_hour):
    GreetingTemplate.objects.create(body="Any team: {{ first_name }}")
    GreetingTemplate.objects.create(team=team, body="Team: {{ first_name }}")
    GreetingTemplate.objects.create(
        team=team, source="zillow", body="Zillow, {{ agent.first_name }} here"
    )
    capture(1, source="zillow", email="a@example.net")
    capture(2, source="webform", phone="+13055551235", email="b@example.net")
    run_queue()
    assert [g.body for g in greetings()] == ["Zillow, Alice here", "Team: Jordan"]


def test_at_night_the_text_waits_for_the_persons_morning(little_river, twilio, run_queue, settings):
    settings.LEAD_SMS_HOURS = "08:00-21:00"
    night = dt.datetime(2026, 7, 2, 3, 0, tzinfo=UTC)  # 23:00 in Miami
    lead = capture()
    greeting = Message.objects.get(kind="greeting")
    Message.objects.filter(pk=greeting.pk).delete()
    planned = greeting_plan(Lead.objects.get(pk=lead.pk), now=night)
    assert planned is not None
    assert planned.next_attempt_at == dt.datetime(2026, 7, 2, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert planned.status == "queued"


# The consent matrix: what reaches the person, and when.
SMS_YES, SMS_NO = ("sms", True), ("sms", False)
EMAIL_YES, EMAIL_NO = ("email", True), ("email", False)


@pytest.mark.parametrize(
    ("consents", "stopped", "phone", "expected"),
    [
        ([SMS_YES], False, PERSON, "sms"),
        ([SMS_YES, EMAIL_YES], False, PERSON, "sms"),
        ([SMS_YES, EMAIL_YES], True, PERSON, "email"),  # texted STOP before: email instead
        ([SMS_YES], True, PERSON, None),
        ([SMS_NO, EMAIL_YES], False, PERSON, "email"),
        ([SMS_NO, EMAIL_NO], False, PERSON, None),
        ([EMAIL_YES], False, PERSON, "email"),
        ([SMS_YES, EMAIL_YES], False, "+442072191000", "email"),  # a landline: not textable
        ([SMS_YES], False, "+442072191000", None),
        ([SMS_YES], False, "+447911123456", "sms"),  # a mobile abroad
    ],
)
def test_consent_matrix(little_river, twilio, any_hour, consents, stopped, phone, expected):
    from integrations.conversations.services import sms_opt_out_record
    from leads.models import Contact

    now = timezone.now()
    if stopped:  # the person is known and texted STOP earlier
        contact = Contact.objects.create(first_name="Jordan", phone=phone, email="j@example.net")
        from leads.models import ContactEmail, ContactPhone

        ContactPhone.objects.create(contact=contact, phone=phone)
        ContactEmail.objects.create(contact=contact, email="j@example.net")
        sms_opt_out_record(contact=contact, text="STOP", origin="sms: STOP texted", evidence={})
        now = now + dt.timedelta(seconds=1)
    data = LeadData(
        source="webform", external_id="matrix", received_at=now, first_name="Jordan",
        email="j@example.net", phone=phone, property_zip="33150",
        consents=tuple(ConsentData(c, granted, "words", now) for c, granted in consents),
    )  # fmt: skip
    lead_capture(data=data)
    made = greetings()
    assert [g.channel for g in made] == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("phone", "now", "expected"),
    [
        # Miami (EDT/EST). Inside the window: now.
        (
            PERSON,
            dt.datetime(2026, 7, 1, 12, 30, tzinfo=UTC),
            dt.datetime(2026, 7, 1, 12, 30, tzinfo=UTC),
        ),
        # 21:00 is closed (the window ends before it): the next morning, 08:00 EST.
        (
            PERSON,
            dt.datetime(2026, 1, 15, 2, 0, tzinfo=UTC),
            dt.datetime(2026, 1, 15, 13, 0, tzinfo=UTC),
        ),
        # 20:59 EST is open.
        (
            PERSON,
            dt.datetime(2026, 1, 15, 1, 59, tzinfo=UTC),
            dt.datetime(2026, 1, 15, 1, 59, tzinfo=UTC),
        ),
        # The night DST starts (8 March 2026, 02:00 EST -> 03:00 EDT): 08:00 EDT is 12:00 UTC.
        (
            PERSON,
            dt.datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
            dt.datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
        ),
        # The night DST ends (1 November 2026, 02:00 EDT -> 01:00 EST): 08:00 EST is 13:00 UTC.
        (
            PERSON,
            dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
            dt.datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
        # Los Angeles at 07:00 PDT: 08:00 PDT.
        (
            "+12135551234",
            dt.datetime(2026, 7, 1, 14, 0, tzinfo=UTC),
            dt.datetime(2026, 7, 1, 15, 0, tzinfo=UTC),
        ),
        # Phoenix keeps no DST: 07:30 MST in July, 08:00 MST is 15:00 UTC.
        (
            "+16025551234",
            dt.datetime(2026, 7, 1, 14, 30, tzinfo=UTC),
            dt.datetime(2026, 7, 1, 15, 0, tzinfo=UTC),
        ),
        # Miami's 10:00 is Los Angeles' 07:00: a Miami evening is fine for Miami only.
        (
            "+12135551234",
            dt.datetime(2026, 7, 2, 0, 30, tzinfo=UTC),
            dt.datetime(2026, 7, 2, 0, 30, tzinfo=UTC),
        ),
    ],
)
def test_the_persons_daytime_with_dst(little_river, phone, now, expected, settings):
    settings.LEAD_SMS_HOURS = "08:00-21:00"
    lead = Lead(property_zip="33150")
    assert next_daytime(now, lead_zones(lead, phone)) == expected


def test_a_toll_free_number_takes_the_zip_and_spanning_states_need_every_zone(team, settings):
    settings.LEAD_SMS_HOURS = "08:00-21:00"
    seattle = Lead(property_zip="98101", team=team)
    assert lead_zones(seattle, "+18005551234") == ("America/Los_Angeles",)
    texas = Lead(property_state="TX", team=team)
    zones = lead_zones(texas, "+18005551234")
    assert zones == ("America/Chicago", "America/Denver")
    # 07:30 CDT is 06:30 MDT: both must be past 08:00, so 08:00 MDT (14:00 UTC).
    now = dt.datetime(2026, 7, 1, 12, 30, tzinfo=UTC)
    assert next_daytime(now, zones) == dt.datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
    nowhere = Lead(team=team)
    assert lead_zones(nowhere, "+18005551234") == (team.time_zone,)


def test_an_empty_window_means_any_hour(settings):
    settings.LEAD_SMS_HOURS = ""
    night = dt.datetime(2026, 7, 2, 7, 0, tzinfo=UTC)
    assert next_daytime(night, ("America/New_York",)) == night


def test_a_waiting_reply_is_sent_by_the_sweeper_when_its_time_comes(
    little_river, twilio, run_queue, settings
):
    settings.LEAD_SMS_HOURS = ""
    lead = capture()
    Message.objects.filter(kind="greeting").update(
        status="queued", next_attempt_at=timezone.now() + dt.timedelta(hours=3)
    )
    run_queue()
    assert messages_sweep() == 0  # not yet
    Message.objects.filter(kind="greeting").update(next_attempt_at=timezone.now())
    assert messages_sweep() == 1
    run_queue()
    assert Message.objects.get(kind="greeting", lead=lead).status == "sent"


def test_the_admin_previews_a_template(admin_client, team):
    template = GreetingTemplate.objects.create(
        team=team,
        body="Hi {{ first_name }}, "
        "{% if agent %}{{ agent.name }} here{% else %}we got it{% endif %}.",
    )
    page = admin_client.get(f"/admin/conversations/greetingtemplate/{template.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Hi Jordan, Alex Carter here." in text
    assert "Hi Jordan, we got it." in text
    broken = admin_client.post(
        "/admin/conversations/greetingtemplate/add/",
        {"source": "", "channel": "sms", "subject": "", "body": "Hi {% if %}", "is_active": "on"},
    )
    assert "Not a template that renders" in broken.content.decode()
