"""Follow-ups: set from the lead page in two taps, found in Today, done, reminded when due,
and published in each agent's private calendar feed (RFC 5545, checked with icalendar)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from leads import signals
from leads.followups import CalendarEvent, calendar, ics_fold, quick_picks
from leads.models import Activity, Agent, Task
from leads.services import task_create, task_finish, tasks_remind

from .test_views import make_lead, signed_in

pytestmark = pytest.mark.django_db
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def alices_lead(alice):
    return make_lead(alice.team, alice, first_name="Jordan", property_address="1 Ocean Dr")


def test_quick_picks_are_in_the_agents_own_time_zone(alice):
    alice.time_zone = "America/Los_Angeles"
    # Tuesday 2026-03-10, 15:07 in Los Angeles (PDT, UTC-7).
    now = dt.datetime(2026, 3, 10, 22, 7, tzinfo=dt.UTC)
    picks = {pick.key: pick for pick in quick_picks(alice, now)}
    assert picks["1h"].at == dt.datetime(2026, 3, 10, 16, 15, tzinfo=LOS_ANGELES)
    assert picks["evening"].at == dt.datetime(2026, 3, 10, 18, 0, tzinfo=LOS_ANGELES)
    assert picks["tomorrow"].at == dt.datetime(2026, 3, 11, 10, 0, tzinfo=LOS_ANGELES)
    assert picks["tomorrow"].at.astimezone(dt.UTC).hour == 17
    assert picks["3d"].at == dt.datetime(2026, 3, 13, 10, 0, tzinfo=LOS_ANGELES)
    assert picks["3d"].label == "In 3 days (Fri 10:00)"
    assert picks["monday"].at == dt.datetime(2026, 3, 16, 10, 0, tzinfo=LOS_ANGELES)
    late = dt.datetime(2026, 3, 11, 1, 0, tzinfo=dt.UTC)  # 18:00 there: no "this evening"
    assert "evening" not in {pick.key for pick in quick_picks(alice, late)}


def test_a_follow_up_is_set_from_the_lead_page_in_two_taps(client, alice, alices_lead):
    signed_in(client, alice)
    page = client.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert 'name="when" value="tomorrow"' in page
    assert 'type="radio" name="kind" value="call" checked' in page

    response = client.post(
        f"/leads/{alices_lead.pk}/follow-up/", {"kind": "showing", "when": "tomorrow"}
    )
    assert response.status_code == 302
    task = Task.objects.get()
    local = task.due_at.astimezone(NEW_YORK)
    assert (local.date(), local.time()) == (
        timezone.now().astimezone(NEW_YORK).date() + dt.timedelta(days=1),
        dt.time(10, 0),
    )
    assert (task.kind, task.agent, task.duration_minutes) == ("showing", alice, 60)
    assert task.location == "1 Ocean Dr"  # the property's address, when none is given
    entry = Activity.objects.get(kind=Activity.Kind.TASK_SET)
    assert entry.summary.startswith("Alice set a follow-up: showing")
    assert "at 1 Ocean Dr" in entry.summary

    page = client.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert "Showing</b>" in page
    assert "Alice set a follow-up" in page


def test_a_follow_up_at_a_chosen_time_is_the_agents_wall_clock(client, alice, alices_lead):
    alice.time_zone = "America/Los_Angeles"
    alice.save()
    signed_in(client, alice)
    day = (timezone.now() + dt.timedelta(days=2)).astimezone(LOS_ANGELES).date()
    client.post(
        f"/leads/{alices_lead.pk}/follow-up/",
        {"kind": "call", "when": "custom", "at": f"{day:%Y-%m-%d}T09:30", "note": "Rates"},
    )
    task = Task.objects.get()
    assert task.due_at == dt.datetime.combine(day, dt.time(9, 30), tzinfo=LOS_ANGELES)
    assert task.note == "Rates"


@pytest.mark.parametrize(
    ("post", "field"),
    [
        ({"kind": "call", "when": "someday"}, "when"),
        ({"kind": "fax", "when": "tomorrow"}, "kind"),
        ({"kind": "call", "when": "custom"}, "at"),
        ({"kind": "call", "when": "custom", "at": "2001-01-01T10:00"}, "at"),
        ({"kind": "call"}, "when"),
    ],
)
def test_a_bad_follow_up_is_a_clear_400(client, alice, alices_lead, post, field):
    signed_in(client, alice)
    response = client.post(f"/leads/{alices_lead.pk}/follow-up/", post)
    assert response.status_code == 400
    assert f"{field}:" in response.content.decode()
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("persona", "expected"), [("alice", 302), ("bob", 404), ("mona", 302), ("oscar", 404)]
)
def test_who_may_set_a_follow_up(request, client, alices_lead, persona, expected):
    agent = request.getfixturevalue(persona)
    signed_in(client, agent)
    response = client.post(f"/leads/{alices_lead.pk}/follow-up/", {"kind": "call", "when": "3d"})
    assert response.status_code == expected
    assert Task.objects.filter(agent=agent).count() == (1 if expected == 302 else 0)


def test_a_teammate_who_may_see_a_pool_lead_may_not_set_follow_ups_on_it(client, alice, bob):
    pool_lead = make_lead(alice.team, None)
    signed_in(client, bob)
    response = client.post(f"/leads/{pool_lead.pk}/follow-up/", {"kind": "call", "when": "3d"})
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        task_create(lead=pool_lead, agent=bob, kind="call", due_at=timezone.now())


def test_today_lists_overdue_due_today_upcoming_and_waiting_leads(client, alice, bob):
    now = timezone.now()
    jordan = make_lead(alice.team, alice, first_name="Jordan")
    casey = make_lead(alice.team, alice, first_name="Casey")
    fresh = make_lead(alice.team, alice, first_name="Riley")  # new: waiting for her
    for lead in (jordan, casey):
        lead.status, lead.accepted_at = "contacted", now
        lead.save()
    late = task_create(
        lead=jordan, agent=alice, kind="call", due_at=now - dt.timedelta(hours=2), now=now
    )
    soon = Task.objects.create(
        lead=casey, agent=alice, kind="text", due_at=now + dt.timedelta(minutes=1)
    )
    week = task_create(lead=casey, agent=alice, kind="email", due_at=now + dt.timedelta(days=3))
    done = task_create(lead=casey, agent=alice, kind="call", due_at=now + dt.timedelta(minutes=2))
    task_finish(task=done, agent=alice)
    bobs_lead = make_lead(alice.team, bob, first_name="Quinn")
    task_create(lead=bobs_lead, agent=bob, kind="call", due_at=now)

    signed_in(client, alice)
    page = client.get("/today/").content.decode()
    overdue = page.split('id="overdue-title"')[1].split("</section>")[0]
    due_today = page.split('id="today-title"')[1].split("</section>")[0]
    upcoming = page.split('id="upcoming-title"')[1].split("</section>")[0]
    waiting = page.split('id="waiting-title"')[1].split("</section>")[0]
    assert f'id="task-{late.pk}"' in overdue
    assert "Call Jordan" in overdue
    assert f'id="task-{soon.pk}"' in due_today
    assert "Text Casey" in due_today
    assert f'id="task-{week.pk}"' in upcoming
    assert f'id="task-{done.pk}"' not in page
    assert "Quinn" not in page  # Bob's
    assert f'id="row-{fresh.pk}"' in waiting
    assert f'id="row-{jordan.pk}"' not in waiting  # being worked, not waiting


def test_a_follow_up_is_done_in_one_tap_from_today_and_only_by_who_may(client, alice, bob, oscar):
    lead = make_lead(alice.team, alice)
    task = task_create(lead=lead, agent=alice, kind="call", due_at=timezone.now())
    for stranger in (bob, oscar):
        signed_in(client, stranger)
        assert client.post(f"/follow-ups/{task.pk}/finish/", {"next": "today"}).status_code == 404
    signed_in(client, alice)
    response = client.post(
        f"/follow-ups/{task.pk}/finish/",
        {"next": "today"},
        headers={"HX-Request": "true", "HX-Target": "today"},
    )
    assert response.status_code == 200
    assert f'id="task-{task.pk}"' not in response.content.decode()
    task.refresh_from_db()
    assert task.status == Task.Status.DONE
    assert task.done_at is not None
    assert Activity.objects.filter(kind=Activity.Kind.TASK_DONE, lead=lead).count() == 1
    client.post(f"/follow-ups/{task.pk}/finish/", {"next": "today"})  # a second tap: no change
    assert Activity.objects.filter(kind=Activity.Kind.TASK_DONE, lead=lead).count() == 1


def test_the_managers_team_follow_ups_may_be_finished_by_the_manager(client, alice, mona):
    lead = make_lead(alice.team, alice)
    task = task_create(lead=lead, agent=alice, kind="call", due_at=timezone.now())
    signed_in(client, mona)
    assert client.post(f"/follow-ups/{task.pk}/finish/", {"status": "canceled"}).status_code == 302
    task.refresh_from_db()
    assert task.status == Task.Status.CANCELED


def test_a_reassigned_lead_takes_its_follow_ups_to_the_new_agent(client, alice, bob, mona):
    from leads.services import lead_reassign

    lead = make_lead(alice.team, alice)
    task = task_create(lead=lead, agent=alice, kind="call", due_at=timezone.now())
    lead_reassign(lead=lead, manager=mona, agent=bob)
    task.refresh_from_db()
    assert task.agent == bob
    signed_in(client, alice)
    assert f'id="task-{task.pk}"' not in client.get("/today/").content.decode()


def test_due_follow_ups_are_announced_once(alice):
    heard: list[Task] = []

    def listen(sender, task, **kwargs):
        heard.append(task)

    signals.task_due.in_transaction.connect(listen, dispatch_uid="test.task_due")
    try:
        lead = make_lead(alice.team, alice)
        now = timezone.now()
        due = task_create(lead=lead, agent=alice, kind="call", due_at=now - dt.timedelta(minutes=1))
        task_create(lead=lead, agent=alice, kind="call", due_at=now + dt.timedelta(hours=1))
        finished = task_create(lead=lead, agent=alice, kind="text", due_at=now)
        task_finish(task=finished, agent=alice)
        assert tasks_remind(now=now) == 1
        assert tasks_remind(now=now) == 0
    finally:
        signals.task_due.in_transaction.disconnect(dispatch_uid="test.task_due")
    assert [task.pk for task in heard] == [due.pk]
    due.refresh_from_db()
    assert due.reminded_at == now


# --- The calendar feed ----------------------------------------------------------------------------


def test_the_calendar_feed_is_valid_rfc_5545_with_showings_at_their_address(
    client, alice, settings
):
    host = settings.SITE_URL.split("://")[1].split(":")[0].split("/")[0]
    lead = make_lead(alice.team, alice, first_name="Zoë", phone="+13055550123")
    at = timezone.now().replace(microsecond=0) + dt.timedelta(days=1)
    showing = task_create(
        lead=lead, agent=alice, kind="showing", due_at=at,
        location="1200 Brickell Bay Dr, Apt 4501; Miami, FL", note="Bring the HOA papers",
    )  # fmt: skip
    call = task_create(lead=lead, agent=alice, kind="call", due_at=at + dt.timedelta(hours=3))
    dropped = task_create(lead=lead, agent=alice, kind="text", due_at=at)
    task_finish(task=dropped, agent=alice, status=Task.Status.CANCELED)
    signed_in(client, alice)
    assert client.post("/settings/calendar/", {"calendar": "new"}).status_code == 302
    alice.refresh_from_db()
    assert len(alice.calendar_token) >= 40
    settings_page = client.get("/settings/").content.decode()
    assert f"/calendar/{alice.calendar_token}.ics" in settings_page
    client.logout()

    response = client.get(f"/calendar/{alice.calendar_token}.ics")  # no sign-in: the token is it
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.content
    assert all(line.endswith(b"\r") for line in body.split(b"\n")[:-1])
    assert all(len(line) <= 76 for line in body.split(b"\n"))  # 75 octets and the CR

    parsed = icalendar.Calendar.from_ical(body)
    assert parsed["VERSION"] == "2.0"
    assert parsed["PRODID"]
    events = {str(e["UID"]): e for e in parsed.walk("VEVENT")}
    assert set(events) == {f"task-{showing.pk}@{host}", f"task-{call.pk}@{host}"}
    event = events[f"task-{showing.pk}@{host}"]
    assert str(event["SUMMARY"]) == "Showing for Zoë Avery"
    assert str(event["LOCATION"]) == "1200 Brickell Bay Dr, Apt 4501; Miami, FL"
    assert event.decoded("DTSTART") == at
    assert event.decoded("DTEND") - event.decoded("DTSTART") == dt.timedelta(hours=1)
    assert "Bring the HOA papers" in str(event["DESCRIPTION"])
    assert str(event["URL"]).endswith(f"/leads/{lead.pk}/")
    assert "DTSTAMP" in event


def test_a_new_calendar_address_retires_the_old_one_and_off_turns_it_off(client, alice, bob):
    signed_in(client, alice)
    client.post("/settings/calendar/", {"calendar": "new"})
    alice.refresh_from_db()
    old = alice.calendar_token
    client.post("/settings/calendar/", {"calendar": "new"})
    alice.refresh_from_db()
    assert alice.calendar_token != old
    assert client.get(f"/calendar/{old}.ics").status_code == 404
    assert client.get(f"/calendar/{alice.calendar_token}.ics").status_code == 200
    client.post("/settings/calendar/", {"calendar": "off"})
    alice.refresh_from_db()
    assert alice.calendar_token is None
    assert client.get("/calendar/.ics").status_code == 404
    assert client.get("/calendar/None.ics").status_code == 404


@pytest.mark.postgres
@pytest.mark.parametrize("token", ["%00", "a%00b", "%ED%A0%80", "x" * 65])
def test_a_calendar_address_that_could_not_be_a_token_is_a_404(client, alice, token):
    """Found by bench/hostile.py on PostgreSQL: a NUL in the address was a 500."""
    assert client.get(f"/calendar/{token}.ics").status_code == 404


def test_a_calendar_shows_only_its_agents_follow_ups(client, alice, bob):
    task_create(lead=make_lead(alice.team, bob, first_name="Quinn"), agent=bob, kind="call",
                due_at=timezone.now())  # fmt: skip
    signed_in(client, alice)
    client.post("/settings/calendar/", {"calendar": "new"})
    alice.refresh_from_db()
    body = client.get(f"/calendar/{alice.calendar_token}.ics").content.decode()
    assert "BEGIN:VCALENDAR" in body
    assert "Quinn" not in body
    Agent.objects.filter(pk=alice.pk).update(is_active=False)
    assert client.get(f"/calendar/{alice.calendar_token}.ics").status_code == 404


def test_long_lines_fold_between_characters_never_inside_one():
    line = "DESCRIPTION:" + "é" * 100
    folded = ics_fold(line).encode()
    parts = folded.split(b"\r\n")
    assert all(len(part) <= 75 for part in parts)
    assert b"".join(part[1:] if i else part for i, part in enumerate(parts)).decode() == line
    now = timezone.now()
    text = calendar(
        "Leadline: Alice",
        [CalendarEvent("x@y", now, 15, "Call, \\ me; now", "a\nb", "", "", True, now)],
        now,
    )
    event = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Done: Call, \\ me; now"
    assert str(event["DESCRIPTION"]) == "a\nb"
