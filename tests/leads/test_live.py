"""Live screens: an open inbox, pool, lead page or Today asks with ``If-None-Match`` and gets a 304
until something its agent may see has changed, then the fragment with the change."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import caches
from django.utils import timezone

from leads import live
from leads.models import Agent, Lead
from leads.services import (
    agent_update_settings,
    lead_add_note,
    lead_reassign,
    leads_escalate,
    task_create,
    task_finish,
)
from tests.leads.test_routing import capture
from tests.leads.test_views import make_lead, signed_in

pytestmark = pytest.mark.django_db


def ask(client, url: str, target: str, tag: str = ""):
    """What app.js sends: htmx's headers, aimed at the page's live box, with the ETag."""
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": target}
    if tag:
        headers["HTTP_IF_NONE_MATCH"] = tag
    return client.get(url, **headers)


def tag_of(client, url: str, target: str) -> str:
    response = ask(client, url, target)
    assert response.status_code == 200
    return response["ETag"]


@pytest.mark.parametrize(("url", "target"), [("/", "lead-list"), ("/pool/", "lead-list")])
def test_an_unchanged_list_is_a_304_without_a_body(client, alice, url, target):
    signed_in(client, alice)
    tag = tag_of(client, url, target)
    again = ask(client, url, target, tag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == tag
    assert "no-store" in again["Cache-Control"]


def test_the_page_carries_its_tag_for_the_first_ask(client, alice):
    signed_in(client, alice)
    page = client.get("/")
    assert page.status_code == 200
    assert f'data-live="{page["ETag"].replace(chr(34), "&quot;")}"' in page.content.decode()
    assert 'data-live-every="5"' in page.content.decode()


def test_a_lead_captured_for_the_team_reaches_every_open_inbox_of_it_and_no_other(
    client, alice, bob, mona, oscar, beach, django_capture_on_commit_callbacks
):
    tags = {}
    for agent in (alice, bob, mona, oscar):
        tags[agent.pk] = tag_of(signed_in(client, agent), "/", "lead-list")
    with django_capture_on_commit_callbacks(execute=True):
        lead = capture("33139", first_name="Quinn")
    assert lead.assigned_agent == alice
    for agent in (alice, bob, mona):
        response = ask(signed_in(client, agent), "/", "lead-list", tags[agent.pk])
        assert response.status_code == 200, agent
        assert response["ETag"] != tags[agent.pk]
        assert ("Quinn" in response.content.decode()) == (agent != bob), agent
    assert ask(signed_in(client, oscar), "/", "lead-list", tags[oscar.pk]).status_code == 304


def test_an_escalated_lead_leaves_the_open_inbox_of_the_agent_who_lost_it(
    client, alice, bob, beach, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead = capture("33139", first_name="Quinn")
    assert lead.assigned_agent == alice
    signed_in(client, alice)
    before = ask(client, "/", "lead-list")
    assert f'id="row-{lead.pk}"' in before.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert leads_escalate(now=timezone.now() + dt.timedelta(hours=1)) == 1
    lead.refresh_from_db()
    assert lead.assigned_agent == bob
    after = ask(client, "/", "lead-list", before["ETag"])
    assert after.status_code == 200
    assert f'id="row-{lead.pk}"' not in after.content.decode()
    # Her open lead page says where it went, in place of its Accept button.
    page = ask(client, f"/leads/{lead.pk}/", "lead-body", before["ETag"])
    assert page.status_code == 409
    assert "Bob" in page.content.decode()
    assert "Accept" not in page.content.decode()


def test_a_lead_page_shows_a_note_added_by_the_manager(
    client, alice, mona, django_capture_on_commit_callbacks
):
    lead = make_lead(alice.team, alice, assigned_at=timezone.now())
    signed_in(client, alice)
    tag = tag_of(client, f"/leads/{lead.pk}/", "lead-body")
    assert ask(client, f"/leads/{lead.pk}/", "lead-body", tag).status_code == 304
    with django_capture_on_commit_callbacks(execute=True):
        lead_add_note(lead=lead, agent=mona, text="Called them, call back at 5")
    response = ask(client, f"/leads/{lead.pk}/", "lead-body", tag)
    assert response.status_code == 200
    assert "Called them, call back at 5" in response.content.decode()
    assert "<html" not in response.content.decode()  # the body to swap in, not the page


def test_a_reassignment_reaches_the_agent_it_left_and_the_one_it_went_to(
    client, alice, bob, mona, django_capture_on_commit_callbacks
):
    lead = make_lead(alice.team, alice, assigned_at=timezone.now())
    tags = {a.pk: tag_of(signed_in(client, a), "/", "lead-list") for a in (alice, bob)}
    with django_capture_on_commit_callbacks(execute=True):
        lead_reassign(lead=lead, manager=mona, agent=bob)
    for agent in (alice, bob):
        assert ask(signed_in(client, agent), "/", "lead-list", tags[agent.pk]).status_code == 200


def test_an_agents_own_settings_move_their_stamp_only(
    client, alice, bob, django_capture_on_commit_callbacks
):
    tags = {a.pk: tag_of(signed_in(client, a), "/", "lead-list") for a in (alice, bob)}
    with django_capture_on_commit_callbacks(execute=True):
        agent_update_settings(agent=alice, actor=alice, is_paused=True)
    assert ask(signed_in(client, alice), "/", "lead-list", tags[alice.pk]).status_code == 200
    assert ask(signed_in(client, bob), "/", "lead-list", tags[bob.pk]).status_code == 304


def test_a_stamp_the_cache_dropped_is_a_new_tag_never_a_stale_304(client, alice):
    signed_in(client, alice)
    tag = tag_of(client, "/", "lead-list")
    caches[live.CACHE_ALIAS].delete(f"live:team:{alice.team_id}")
    assert ask(client, "/", "lead-list", tag).status_code == 200


def test_a_304_reads_no_lead(client, alice, django_assert_max_num_queries):
    for n in range(3):
        make_lead(alice.team, alice, first_name=f"Person{n}")
    signed_in(client, alice)
    tag = tag_of(client, "/", "lead-list")
    # The session, the user, the agent and the stamps (the cache table without Redis).
    with django_assert_max_num_queries(4):
        assert ask(client, "/", "lead-list", tag).status_code == 304


def test_a_sign_in_that_expired_sends_the_poll_to_sign_in(client, alice):
    response = client.get(
        "/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="lead-list", HTTP_IF_NONE_MATCH='W/"x.y"'
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_stamps_move_after_the_commit_not_before(alice, django_capture_on_commit_callbacks):
    agent = Agent.objects.get(pk=alice.pk)
    before = live.etag(agent)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        lead = make_lead(alice.team, alice)
        live.lead_changed(lead)
        assert live.etag(agent) == before
    for callback in callbacks:
        callback()
    assert live.etag(agent) != before
    assert Lead.objects.filter(pk=lead.pk).exists()


# --- Today ------------------------------------------------------------------------------------


def test_an_open_today_shows_a_follow_up_set_elsewhere_and_loses_one_done_elsewhere(
    client, alice, oscar, django_capture_on_commit_callbacks
):
    lead = make_lead(alice.team, alice, assigned_at=timezone.now(), first_name="Casey")
    tags = {a.pk: tag_of(signed_in(client, a), "/today/", "today") for a in (alice, oscar)}
    signed_in(client, alice)
    assert ask(client, "/today/", "today", tags[alice.pk]).status_code == 304
    with django_capture_on_commit_callbacks(execute=True):  # from her other phone
        task = task_create(lead=lead, agent=alice, kind="call", due_at=timezone.now())
    response = ask(client, "/today/", "today", tags[alice.pk])
    assert response.status_code == 200
    assert f'id="task-{task.pk}"' in response.content.decode()
    assert "<html" not in response.content.decode()  # the fragment to swap in
    # Another team's agent is not asked to draw again.
    assert ask(signed_in(client, oscar), "/today/", "today", tags[oscar.pk]).status_code == 304

    signed_in(client, alice)
    tag = response["ETag"]
    with django_capture_on_commit_callbacks(execute=True):
        task_finish(task=task, agent=alice)
    response = ask(client, "/today/", "today", tag)
    assert response.status_code == 200
    assert f'id="task-{task.pk}"' not in response.content.decode()


def test_an_open_today_shows_a_new_lead_for_the_agent(
    client, alice, beach, django_capture_on_commit_callbacks
):
    signed_in(client, alice)
    tag = tag_of(client, "/today/", "today")
    with django_capture_on_commit_callbacks(execute=True):
        lead = capture("33139", first_name="Quinn")
    assert lead.assigned_agent == alice
    response = ask(client, "/today/", "today", tag)
    assert response.status_code == 200
    waiting = response.content.decode().split('id="waiting-title"')[1]
    assert f'id="row-{lead.pk}"' in waiting


def test_today_asks_again_when_a_follow_up_falls_overdue_with_nothing_else_changed(
    client, alice, monkeypatch
):
    now = timezone.now()
    lead = make_lead(alice.team, alice, assigned_at=now)
    task = task_create(lead=lead, agent=alice, kind="call", due_at=now + dt.timedelta(minutes=2))
    signed_in(client, alice)
    page = client.get("/today/")
    tag = page["ETag"]
    assert f'data-live="{tag.replace(chr(34), "&quot;")}"' in page.content.decode()
    assert ask(client, "/today/", "today", tag).status_code == 304

    later = now + dt.timedelta(minutes=3)
    monkeypatch.setattr(timezone, "now", lambda: later)
    response = ask(client, "/today/", "today", tag)
    assert response.status_code == 200
    overdue = response.content.decode().split('id="overdue-title"')[1].split("</section>")[0]
    assert f'id="task-{task.pk}"' in overdue
    # The new tag holds from now on (the day's end is the next moment it changes by itself).
    assert ask(client, "/today/", "today", response["ETag"]).status_code == 304


def test_a_tag_is_unchanged_only_with_the_same_stamps_and_before_its_moment():
    now = timezone.now()
    tag = 'W/"a1.b2"'
    ahead = live.etag_until(tag, now + dt.timedelta(minutes=1))
    assert ahead.startswith('W/"a1.b2.u')
    assert live.unchanged(tag, tag, now=now)
    assert live.unchanged(ahead, tag, now=now)
    assert not live.unchanged(ahead, tag, now=now + dt.timedelta(minutes=2))
    assert not live.unchanged(ahead, 'W/"a1.b3"', now=now)  # a stamp moved
    assert not live.unchanged('W/"a1.b2.uX"', tag, now=now)
    assert not live.unchanged('W/"a1.b2.u-5"', tag, now=now)
    assert live.etag_until(tag, None) == tag
