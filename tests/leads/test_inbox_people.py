"""The inbox lists people: a person who wrote three times is one row, with their latest
inquiry (or the one waiting for an Accept or a Claim), how many inquiries they sent and a way
to all of them; role by role, with search, filters and pages as before."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from leads import live
from leads.models import Contact, Lead, LeadOffer
from tests.leads.test_views import signed_in

pytestmark = pytest.mark.django_db
LIVE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "lead-list"}


def inquiry(contact, agent, hours_ago: float, team=None, **fields) -> Lead:
    received = timezone.now() - dt.timedelta(hours=hours_ago)
    values = {
        "contact": contact, "team": team or (agent.team if agent else None), "source": "webform",
        "external_id": f"{contact.pk}-{hours_ago}-{fields.get('source', '')}",
        "received_at": received, "assigned_agent": agent, "assigned_at": received,
        "accepted_at": received if fields.get("status", "accepted") != "new" else None,
        "status": Lead.Status.ACCEPTED, "message": f"Written {hours_ago} hours ago",
    }  # fmt: skip
    return Lead.objects.create(**{**values, **fields})


@pytest.fixture
def jordan() -> Contact:
    return Contact.objects.create(first_name="Jordan", last_name="Avery", email="j@example.com")


def rows(response) -> list[Any]:
    assert response.status_code == 200
    return list(response.context["rows"])


@pytest.mark.parametrize("persona", ["alice", "mona"])
def test_a_person_who_wrote_three_times_is_one_row_with_the_latest_inquiry(
    request, client, persona, alice, jordan
):
    leads = [inquiry(jordan, alice, hours) for hours in (30, 5, 50)]
    viewer = request.getfixturevalue(persona)
    response = signed_in(client, viewer).get("/")
    shown = rows(response)
    assert [lead.pk for lead in shown] == [leads[1].pk]  # once, the latest (5 hours ago)
    assert shown[0].inquiries == 3
    html = response.content.decode()
    assert html.count(f'id="row-{leads[1].pk}"') == 1
    assert "Written 5 hours ago" in html
    assert f'href="/leads/{leads[1].pk}/"' in html  # the row opens the inquiry it shows
    assert f'<a class="inquiries" href="/people/{jordan.pk}/">3 inquiries</a>' in html
    for older in (leads[0], leads[2]):
        assert f'id="row-{older.pk}"' not in html
    # One row per inquiry on request.
    each = rows(client.get("/?each=inquiry"))
    assert {lead.pk for lead in each} == {lead.pk for lead in leads}


def test_the_row_stands_on_the_inquiry_that_waits_and_accept_acts_on_it(client, alice, jordan):
    waiting = inquiry(jordan, alice, 3, status=Lead.Status.NEW,
                      sla_due_at=timezone.now() + dt.timedelta(minutes=4))  # fmt: skip
    later = inquiry(jordan, alice, 1)  # accepted since, the newest
    response = signed_in(client, alice).get("/")
    assert [lead.pk for lead in rows(response)] == [waiting.pk]
    html = response.content.decode()
    assert f'hx-post="/leads/{waiting.pk}/accept/"' in html
    accepted = client.post(
        f"/leads/{waiting.pk}/accept/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"row-{waiting.pk}"
    )
    assert accepted.status_code == 200
    assert "2 inquiries" in accepted.content.decode()  # the swapped-in row keeps its count
    assert Lead.objects.get(pk=waiting.pk).accepted_at is not None
    assert Lead.objects.get(pk=later.pk).status == Lead.Status.ACCEPTED
    assert [lead.pk for lead in rows(client.get("/"))] == [later.pk]  # now the latest


def test_an_offer_is_claimed_from_the_persons_row(client, alice, bob, jordan):
    inquiry(jordan, bob, 48)  # Bob's, long ago: not Alice's to see
    offered = inquiry(jordan, None, 1, team=alice.team, status=Lead.Status.NEW)
    LeadOffer.objects.create(lead=offered, agent=alice)
    response = signed_in(client, alice).get("/")
    assert [lead.pk for lead in rows(response)] == [offered.pk]
    assert rows(response)[0].inquiries == 1  # Bob's inquiry is not hers to count
    assert f'hx-post="/leads/{offered.pk}/claim/"' in response.content.decode()
    assert "inquiries</a>" not in response.content.decode()


def test_each_agent_sees_the_person_with_their_own_inquiry(client, alice, bob, mona, jordan):
    alices = inquiry(jordan, alice, 20)
    bobs = inquiry(jordan, bob, 2)
    assert [lead.pk for lead in rows(signed_in(client, alice).get("/"))] == [alices.pk]
    assert [lead.pk for lead in rows(signed_in(client, bob).get("/"))] == [bobs.pk]
    shown = rows(signed_in(client, mona).get("/"))  # the manager: the team's latest
    assert [lead.pk for lead in shown] == [bobs.pk]
    assert shown[0].inquiries == 2


def test_another_teams_agent_sees_none_of_it(client, alice, oscar, jordan):
    inquiry(jordan, alice, 2)
    own = inquiry(jordan, oscar, 9)
    response = signed_in(client, oscar).get("/")
    assert [lead.pk for lead in rows(response)] == [own.pk]
    assert rows(response)[0].inquiries == 1


def test_staff_without_an_agent_profile_are_sent_to_the_admin(client, alice, jordan):
    inquiry(jordan, alice, 2)
    staff = get_user_model().objects.create_user("ops", "ops@example.com", "x" * 16)
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/")


@pytest.mark.parametrize("persona", ["alice", "mona"])
def test_filters_and_search_pick_the_persons_matching_inquiry(
    request, client, persona, alice, jordan
):
    zoe = Contact.objects.create(first_name="Zoë", last_name="Núñez", email="z@example.com")
    lost = inquiry(jordan, alice, 40, status=Lead.Status.CLOSED_LOST, source="zillow")
    latest = inquiry(jordan, alice, 2)
    zoes = [inquiry(zoe, alice, hours) for hours in (6, 3)]
    signed_in(client, request.getfixturevalue(persona))
    assert [lead.pk for lead in rows(client.get("/?status=closed"))] == [lost.pk]
    assert [lead.pk for lead in rows(client.get("/?source=zillow"))] == [lost.pk]
    assert {lead.pk for lead in rows(client.get("/?status=open"))} == {latest.pk, zoes[1].pk}
    found = rows(client.get("/?q=zoe+nunez"))  # accents and case aside
    assert [lead.pk for lead in found] == [zoes[1].pk]
    assert found[0].inquiries == 2
    assert [lead.pk for lead in rows(client.get("/?q=ZOË", **LIVE))] == [zoes[1].pk]


def test_pages_count_people_and_a_refresh_keeps_them(client, alice):
    for n in range(30):
        person = Contact.objects.create(first_name=f"P{n}", email=f"p{n}@example.com")
        inquiry(person, alice, 10 + n)
        inquiry(person, alice, n)
    signed_in(client, alice)
    first = client.get("/")
    assert len(rows(first)) == 25
    assert first.context["next_page"] == 2
    more = rows(client.get("/?page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="more"))
    assert len(more) == 5
    everyone = rows(client.get("/?page=2", **LIVE))
    assert len(everyone) == 30
    assert len({lead.contact_id for lead in everyone}) == 30
    assert all(lead.inquiries == 2 for lead in everyone)


def test_the_live_poll_still_answers_304_while_nothing_changed(
    client, alice, jordan, django_capture_on_commit_callbacks
):
    inquiry(jordan, alice, 2)
    first = signed_in(client, alice).get("/", **LIVE)
    again = client.get("/", HTTP_IF_NONE_MATCH=first["ETag"], **LIVE)
    assert again.status_code == 304
    with django_capture_on_commit_callbacks(execute=True):
        live.lead_changed(inquiry(jordan, alice, 1, source="zillow"), agents=[alice])
    changed = client.get("/", HTTP_IF_NONE_MATCH=first["ETag"], **LIVE)
    assert changed.status_code == 200
    assert "2 inquiries" in changed.content.decode()


def test_a_bad_rows_value_is_ignored(client, alice, jordan):
    inquiry(jordan, alice, 2)
    inquiry(jordan, alice, 1)
    assert len(rows(signed_in(client, alice).get("/?each=everything"))) == 1
