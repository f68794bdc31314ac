"""The header's one-tap "Pause my leads": per role, always the signed-in agent's own."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model

from leads.models import Agent
from tests.leads.test_routing import capture
from tests.leads.test_views import signed_in

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "pause"}


@pytest.mark.parametrize("persona", ["alice", "mona"])
def test_every_page_has_the_toggle_in_its_header(request, client, persona):
    agent = request.getfixturevalue(persona)
    html = signed_in(client, agent).get("/").content.decode()
    assert 'id="pause-button"' in html
    assert 'aria-pressed="false"' in html
    assert 'name="paused" value="on"' in html


@pytest.mark.parametrize("persona", ["alice", "mona"])
def test_one_tap_pauses_the_agent_and_a_second_resumes(request, client, persona, bob):
    agent = request.getfixturevalue(persona)
    signed_in(client, agent)
    response = client.post("/pause/", {"paused": "on"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-pressed="true"' in html
    assert 'name="paused" value="off"' in html
    assert "Paused: no new leads come to you" in html  # said in the page's status region
    assert Agent.objects.get(pk=agent.pk).is_paused
    assert not Agent.objects.get(pk=bob.pk).is_paused  # a manager pauses their own leads only
    assert LogEntry.objects.filter(object_id=str(agent.pk)).exists()
    # The same tap twice (a double tap) changes nothing more.
    assert client.post("/pause/", {"paused": "on"}, **HTMX).status_code == 200
    assert Agent.objects.get(pk=agent.pk).is_paused
    response = client.post("/pause/", {"paused": "off"}, **HTMX)
    assert 'aria-pressed="false"' in response.content.decode()
    assert not Agent.objects.get(pk=agent.pk).is_paused


@pytest.mark.parametrize("persona", ["alice", "mona"])
@pytest.mark.parametrize("paused", [True, False])
def test_saving_the_settings_page_leaves_the_pause_as_the_header_set_it(
    request, client, persona, paused
):
    """The settings page was opened, then the header's toggle tapped: saving the page (with
    whatever it says) does not undo the tap."""
    agent = request.getfixturevalue(persona)
    page = signed_in(client, agent).get("/settings/")
    html = page.content.decode()
    assert 'name="is_paused"' not in html  # no second switch that could disagree
    assert "Tap <b>Pause my leads</b> at the top" in html
    form = {k: v for k, v in page.context["form"].initial.items() if v not in (None, False)}
    client.post("/pause/", {"paused": "on" if paused else "off"}, **HTMX)
    saved = client.post("/settings/", {**form, "is_paused": "" if paused else "on"})
    assert saved.status_code == 302
    assert Agent.objects.get(pk=agent.pk).is_paused is paused


def test_a_paused_agent_gets_no_new_lead(client, alice, bob, beach):
    signed_in(client, alice).post("/pause/", {"paused": "on"}, **HTMX)
    assert capture("33139").assigned_agent == bob


def test_without_javascript_it_goes_back_to_the_page_it_was_tapped_on(client, alice):
    signed_in(client, alice)
    response = client.post(
        "/pause/", {"paused": "on"}, HTTP_REFERER="http://testserver/pool/?page=1"
    )
    assert response.status_code == 302
    assert response["Location"] == "/pool/?page=1"
    elsewhere = client.post("/pause/", {"paused": "off"}, HTTP_REFERER="https://evil.example/")
    assert elsewhere["Location"] == "/"


def test_a_bad_value_is_a_clear_400(client, alice):
    response = signed_in(client, alice).post("/pause/", {"paused": "maybe"}, **HTMX)
    assert response.status_code == 400
    assert "paused: on or off" in response.content.decode()
    assert not Agent.objects.get(pk=alice.pk).is_paused


def test_no_one_pauses_without_signing_in_or_by_get(client, alice):
    assert client.post("/pause/", {"paused": "on"}).status_code == 302
    assert not Agent.objects.get(pk=alice.pk).is_paused
    assert signed_in(client, alice).get("/pause/").status_code == 405


def test_staff_without_an_agent_profile_are_sent_to_the_admin(client):
    staff = get_user_model().objects.create_user("ops", "ops@example.com", "x" * 16)
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    response = client.post("/pause/", {"paused": "on"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/")


def test_a_form_from_another_site_is_refused(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    assert client.post("/pause/", {"paused": "on"}).status_code == 403
    assert not Agent.objects.get(pk=alice.pk).is_paused
