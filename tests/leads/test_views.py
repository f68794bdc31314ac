"""The agent's app, role by role: Alice (agent), Bob (her teammate), Mona (their manager) and
Oscar (an agent of another team) walk through every view and every action.

What is not theirs is a 404 when they may not even see it, a 403 when they may see it but
not do that; never a leak.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from itertools import count

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.utils import timezone

from leads.models import Activity, Agent, Contact, Lead, LeadOffer, RoutingDecision, RoutingRule

pytestmark = pytest.mark.django_db
_ids = count(1)


def make_lead(team, agent=None, *, first_name="Jordan", email="", phone="", **fields) -> Lead:
    n = next(_ids)
    contact = Contact.objects.create(
        first_name=first_name,
        last_name="Avery",
        email=email or f"person{n}@example.com",
        phone=phone or f"+1305555{n:04d}",
    )
    values = {
        "contact": contact,
        "team": team,
        "source": "webform",
        "external_id": f"ext-{n}",
        "received_at": timezone.now(),
        "assigned_agent": agent,
        "message": "Can we see it on Saturday?",
    }
    return Lead.objects.create(**{**values, **fields})


@pytest.fixture
def alices_lead(alice):
    now = timezone.now()
    return make_lead(alice.team, alice, assigned_at=now, sla_due_at=now + dt.timedelta(minutes=5))


@pytest.fixture
def pool_lead(alice):
    return make_lead(alice.team, None, first_name="Pat", source="zillow")


@pytest.fixture
def oscars_lead(oscar):
    return make_lead(oscar.team, oscar)


def signed_in(client, agent: Agent):
    client.force_login(agent.user)
    return client


# --- Who may open what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"), [("alice", 200), ("bob", 404), ("mona", 200), ("oscar", 404)]
)
def test_a_lead_page_opens_for_its_agent_and_manager_only(
    request, client, alices_lead, persona, expected
):
    agent = request.getfixturevalue(persona)
    response = signed_in(client, agent).get(f"/leads/{alices_lead.pk}/")
    assert response.status_code == expected
    if expected == 404:
        assert b"Jordan" not in response.content
        assert alices_lead.contact.email.encode() not in response.content


def test_a_lead_that_does_not_exist_and_one_not_yours_answer_the_same(client, bob, alices_lead):
    signed_in(client, bob)
    missing = client.get("/leads/999999/")
    hidden = client.get(f"/leads/{alices_lead.pk}/")
    assert missing.status_code == hidden.status_code == 404
    assert missing.content == hidden.content


@pytest.mark.parametrize(
    ("persona", "expected"), [("alice", 200), ("bob", 200), ("mona", 200), ("oscar", 404)]
)
def test_a_pool_lead_is_open_to_the_whole_team_only(request, client, pool_lead, persona, expected):
    agent = request.getfixturevalue(persona)
    assert signed_in(client, agent).get(f"/leads/{pool_lead.pk}/").status_code == expected


def test_a_lead_offered_to_an_agent_of_another_team_is_open_to_them(client, oscar, pool_lead):
    LeadOffer.objects.create(lead=pool_lead, agent=oscar)
    assert signed_in(client, oscar).get(f"/leads/{pool_lead.pk}/").status_code == 200


def test_the_inbox_lists_only_what_each_person_may_see(
    client, alice, bob, mona, oscar, alices_lead, pool_lead, oscars_lead
):
    bobs = make_lead(alice.team, bob, first_name="Bobby")

    def names(agent, query=""):
        page = signed_in(client, agent).get(f"/{query}")
        assert page.status_code == 200
        return {lead.contact.first_name for lead in page.context["rows"]}

    assert names(alice) == {"Jordan"}
    assert names(bob) == {"Bobby"}
    assert names(mona) == {"Jordan", "Bobby", "Pat"}
    assert names(mona, "?mine=on") == set()
    assert names(oscar) == {oscars_lead.contact.first_name}
    assert bobs.pk not in {lead.pk for lead in signed_in(client, oscar).get("/").context["rows"]}


def test_the_pool_shows_the_teams_unassigned_open_leads(
    client, alice, oscar, pool_lead, alices_lead
):
    make_lead(alice.team, None, first_name="Closed", status=Lead.Status.CLOSED_LOST)
    make_lead(oscar.team, None, first_name="Elsewhere")
    rows = signed_in(client, alice).get("/pool/").context["rows"]
    assert [lead.pk for lead in rows] == [pool_lead.pk]
    assert b"Claim" in client.get("/pool/").content


def test_anonymous_visitors_are_sent_to_sign_in(client, alices_lead):
    for url in ("/", "/pool/", f"/leads/{alices_lead.pk}/", "/settings/", "/dashboard/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_staff_without_an_agent_profile_go_to_the_admin(client, db):
    staff = get_user_model().objects.create_user("ops", "ops@example.com", "x", is_staff=True)
    client.force_login(staff)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_a_login_without_an_agent_profile_is_refused(client, db):
    client.force_login(get_user_model().objects.create_user("guest", "g@example.com", "x"))
    assert client.get("/").status_code == 403


def test_an_inactive_agent_sees_nothing(client, alice, alices_lead):
    Agent.objects.filter(pk=alice.pk).update(is_active=False)
    signed_in(client, alice)
    assert client.get("/").status_code == 403
    assert client.get(f"/leads/{alices_lead.pk}/").status_code == 403


# --- Accept and claim -----------------------------------------------------------------------


def test_alice_accepts_her_lead_in_one_tap_from_the_inbox(client, alice, alices_lead):
    response = signed_in(client, alice).post(
        f"/leads/{alices_lead.pk}/accept/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"row-{alices_lead.pk}",
    )
    assert response.status_code == 200
    assert f'id="row-{alices_lead.pk}"'.encode() in response.content
    assert b"Accepted" in response.content
    alices_lead.refresh_from_db()
    assert alices_lead.status == Lead.Status.ACCEPTED
    assert alices_lead.accepted_at is not None
    assert alices_lead.sla_due_at is None
    assert alices_lead.activities.filter(kind=Activity.Kind.ACCEPTED, actor=alice.user).exists()


def test_accepting_without_javascript_redirects_to_the_lead(client, alice, alices_lead):
    response = signed_in(client, alice).post(f"/leads/{alices_lead.pk}/accept/")
    assert response.status_code == 302
    assert response["Location"] == f"/leads/{alices_lead.pk}/"


@pytest.mark.parametrize(("persona", "expected"), [("bob", 404), ("mona", 403), ("oscar", 404)])
def test_only_the_assigned_agent_accepts(request, client, alices_lead, persona, expected):
    agent = request.getfixturevalue(persona)
    assert signed_in(client, agent).post(f"/leads/{alices_lead.pk}/accept/").status_code == expected
    alices_lead.refresh_from_db()
    assert alices_lead.accepted_at is None


def test_bob_claims_a_pool_lead_and_then_alice_no_longer_sees_it(client, alice, bob, pool_lead):
    response = signed_in(client, bob).post(
        f"/leads/{pool_lead.pk}/claim/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"row-{pool_lead.pk}",
    )
    assert response.status_code == 200
    pool_lead.refresh_from_db()
    assert pool_lead.assigned_agent == bob
    assert pool_lead.status == Lead.Status.ACCEPTED
    assert signed_in(client, alice).post(f"/leads/{pool_lead.pk}/claim/").status_code == 404


def test_a_claim_that_loses_the_race_says_who_has_the_lead(
    client, monkeypatch, alice, bob, pool_lead
):
    """Alice's tap reads the lead while it is still in the pool; Bob's claim lands first."""
    from leads import selectors

    read = selectors.lead_get

    def bob_claims_meanwhile(*, user, pk):
        lead = read(user=user, pk=pk)
        Lead.objects.filter(pk=pk).update(assigned_agent=bob, accepted_at=timezone.now())
        return lead

    monkeypatch.setattr(selectors, "lead_get", bob_claims_meanwhile)
    response = signed_in(client, alice).post(
        f"/leads/{pool_lead.pk}/claim/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"row-{pool_lead.pk}",
    )
    assert response.status_code == 409
    assert b"Bob already has this lead" in response.content
    pool_lead.refresh_from_db()
    assert pool_lead.assigned_agent == bob


def test_oscar_cannot_claim_another_teams_pool_lead(client, oscar, pool_lead):
    assert signed_in(client, oscar).post(f"/leads/{pool_lead.pk}/claim/").status_code == 404
    pool_lead.refresh_from_db()
    assert pool_lead.assigned_agent is None


def test_an_assigned_lead_cannot_be_claimed_by_a_teammate_who_sees_it(client, mona, alices_lead):
    assert signed_in(client, mona).post(f"/leads/{alices_lead.pk}/claim/").status_code == 403


# --- Working a lead: status, notes, contact, reassign -------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"), [("alice", 302), ("bob", 404), ("mona", 302), ("oscar", 404)]
)
def test_status_changes_by_role(request, client, alices_lead, persona, expected):
    agent = request.getfixturevalue(persona)
    response = signed_in(client, agent).post(
        f"/leads/{alices_lead.pk}/status/", {"status": "qualified"}
    )
    assert response.status_code == expected
    alices_lead.refresh_from_db()
    moved = expected == 302
    assert (alices_lead.status == Lead.Status.QUALIFIED) is moved
    assert alices_lead.activities.filter(kind=Activity.Kind.STATUS_CHANGED).exists() is moved


def test_moving_a_new_lead_on_accepts_it(client, alice, alices_lead):
    signed_in(client, alice).post(f"/leads/{alices_lead.pk}/status/", {"status": "appointment"})
    alices_lead.refresh_from_db()
    assert alices_lead.accepted_at is not None
    assert alices_lead.sla_due_at is None


def test_a_bad_status_is_a_400_naming_the_field(client, alice, alices_lead):
    response = signed_in(client, alice).post(f"/leads/{alices_lead.pk}/status/", {"status": "x"})
    assert response.status_code == 400
    assert b"status" in response.content
    alices_lead.refresh_from_db()
    assert alices_lead.status == Lead.Status.NEW


def test_a_teammate_who_sees_a_pool_lead_cannot_work_it_before_claiming(client, bob, pool_lead):
    signed_in(client, bob)
    assert client.post(f"/leads/{pool_lead.pk}/status/", {"status": "contacted"}).status_code == 403
    assert client.post(f"/leads/{pool_lead.pk}/note/", {"text": "mine now"}).status_code == 403
    post = {"how": "call", "outcome": "talked"}
    assert client.post(f"/leads/{pool_lead.pk}/contact/", post).status_code == 403


@pytest.mark.parametrize(
    ("persona", "expected"), [("alice", 200), ("bob", 404), ("mona", 200), ("oscar", 404)]
)
def test_notes_by_role(request, client, alices_lead, persona, expected):
    agent = request.getfixturevalue(persona)
    response = signed_in(client, agent).post(
        f"/leads/{alices_lead.pk}/note/",
        {"text": "Prefers texts after 6pm"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="lead-body",
    )
    assert response.status_code == expected
    notes = alices_lead.activities.filter(kind=Activity.Kind.NOTE)
    if expected == 200:
        assert notes.get().data == {"text": "Prefers texts after 6pm"}
        assert b"Prefers texts after 6pm" in response.content  # on the timeline swapped in
    else:
        assert not notes.exists()


def test_an_empty_note_is_refused(client, alice, alices_lead):
    response = signed_in(client, alice).post(f"/leads/{alices_lead.pk}/note/", {"text": "  "})
    assert response.status_code == 400
    assert b"text" in response.content


@pytest.mark.parametrize(
    ("persona", "expected"), [("alice", 302), ("bob", 404), ("mona", 302), ("oscar", 404)]
)
def test_logging_a_call_by_role(request, client, alices_lead, persona, expected):
    agent = request.getfixturevalue(persona)
    response = signed_in(client, agent).post(
        f"/leads/{alices_lead.pk}/contact/", {"how": "call", "outcome": "talked"}
    )
    assert response.status_code == expected
    alices_lead.refresh_from_db()
    if expected == 302:
        assert alices_lead.first_contact_at is not None
        assert alices_lead.status == Lead.Status.CONTACTED
        entry = alices_lead.activities.get(kind=Activity.Kind.CONTACTED)
        assert entry.data == {"how": "call", "outcome": "talked"}
    else:
        assert alices_lead.first_contact_at is None


@pytest.mark.parametrize("outcome", ["voicemail", "no_answer", "bad_number"])
def test_a_call_that_did_not_reach_them_is_an_attempt_not_first_contact(
    client, alice, alices_lead, outcome
):
    response = signed_in(client, alice).post(
        f"/leads/{alices_lead.pk}/contact/",
        {"how": "call", "outcome": outcome},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="lead-body",
    )
    assert response.status_code == 200
    alices_lead.refresh_from_db()
    assert alices_lead.first_contact_at is None  # speed to contact still waits
    assert alices_lead.accepted_at is not None  # but she is plainly working it: the clock stops
    assert alices_lead.sla_due_at is None
    assert alices_lead.status == Lead.Status.ACCEPTED
    attempt = alices_lead.activities.get(kind=Activity.Kind.CALL_ATTEMPT)
    assert attempt.data == {"how": "call", "outcome": outcome}
    assert attempt.summary.startswith("Alice called: ")
    assert attempt.summary.removeprefix("Alice called: ") in response.content.decode()
    assert not alices_lead.activities.filter(kind=Activity.Kind.CONTACTED).exists()

    signed_in(client, alice).post(
        f"/leads/{alices_lead.pk}/contact/", {"how": "call", "outcome": "talked"}
    )
    alices_lead.refresh_from_db()
    assert alices_lead.first_contact_at is not None
    assert alices_lead.status == Lead.Status.CONTACTED


@pytest.mark.parametrize(
    ("post", "field"),
    [({"how": "call"}, "outcome"), ({"how": "call", "outcome": "maybe"}, "outcome"), ({}, "how")],
)
def test_a_call_without_its_outcome_is_a_clear_400(client, alice, alices_lead, post, field):
    response = signed_in(client, alice).post(f"/leads/{alices_lead.pk}/contact/", post)
    assert response.status_code == 400
    assert f"{field}:" in response.content.decode()
    alices_lead.refresh_from_db()
    assert alices_lead.first_contact_at is None


def test_a_text_or_email_sent_is_first_contact(client, alice, alices_lead):
    signed_in(client, alice).post(f"/leads/{alices_lead.pk}/contact/", {"how": "text"})
    alices_lead.refresh_from_db()
    assert alices_lead.first_contact_at is not None


def test_the_lead_page_asks_the_outcome_after_call_is_tapped(client, alice, alices_lead):
    page = signed_in(client, alice).get(f"/leads/{alices_lead.pk}/").content.decode()
    assert 'data-asks-outcome="call-after"' in page
    dialog = page.split('<dialog class="call-after"')[1].split("</dialog>")[0]
    for outcome in ("talked", "voicemail", "no_answer", "bad_number"):
        assert f'name="outcome" value="{outcome}"' in dialog


def test_the_lead_page_offers_call_and_text_links(client, alice, alices_lead):
    page = signed_in(client, alice).get(f"/leads/{alices_lead.pk}/").content.decode()
    phone = alices_lead.contact.phone
    assert f'href="tel:{phone}"' in page
    assert f'href="sms:{phone}"' in page
    assert f'href="mailto:{alices_lead.contact.email}"' in page
    assert f"Call ({phone[2:5]}) {phone[5:8]}-{phone[8:]}" in page  # as dialled at home


def test_mona_reassigns_alices_lead_to_bob(client, alice, bob, mona, alices_lead):
    response = signed_in(client, mona).post(
        f"/leads/{alices_lead.pk}/reassign/", {"agent": bob.pk, "reason": "Alice is at a closing"}
    )
    assert response.status_code == 302
    alices_lead.refresh_from_db()
    assert alices_lead.assigned_agent == bob
    assert alices_lead.status == Lead.Status.NEW
    assert alices_lead.sla_due_at is not None
    decision = RoutingDecision.objects.get(lead=alices_lead, kind=RoutingDecision.Kind.MANUAL)
    assert decision.reason == "Reassigned by Mona from Alice: Alice is at a closing"
    assert signed_in(client, alice).get(f"/leads/{alices_lead.pk}/").status_code == 404
    assert signed_in(client, bob).get(f"/leads/{alices_lead.pk}/").status_code == 200


def test_a_lead_being_worked_keeps_its_status_when_reassigned(client, bob, mona, alices_lead):
    Lead.objects.filter(pk=alices_lead.pk).update(
        status=Lead.Status.QUALIFIED, accepted_at=timezone.now(), first_contact_at=timezone.now()
    )
    signed_in(client, mona).post(f"/leads/{alices_lead.pk}/reassign/", {"agent": bob.pk})
    alices_lead.refresh_from_db()
    assert (alices_lead.assigned_agent, alices_lead.status) == (bob, Lead.Status.QUALIFIED)
    assert alices_lead.accepted_at is not None


@pytest.mark.parametrize(("persona", "expected"), [("alice", 403), ("bob", 404), ("oscar", 404)])
def test_only_the_manager_reassigns(request, client, alice, bob, alices_lead, persona, expected):
    agent = request.getfixturevalue(persona)
    response = signed_in(client, agent).post(
        f"/leads/{alices_lead.pk}/reassign/", {"agent": bob.pk}
    )
    assert response.status_code == expected
    alices_lead.refresh_from_db()
    assert alices_lead.assigned_agent == alice


def test_a_manager_cannot_hand_a_lead_to_another_teams_agent(client, mona, oscar, alices_lead):
    response = signed_in(client, mona).post(
        f"/leads/{alices_lead.pk}/reassign/", {"agent": oscar.pk}
    )
    assert response.status_code == 400
    assert b"agent" in response.content
    alices_lead.refresh_from_db()
    assert alices_lead.assigned_agent_id != oscar.pk


def test_the_reassign_form_is_shown_to_the_manager_only(client, alice, mona, alices_lead):
    assert b"Reassign to" in signed_in(client, mona).get(f"/leads/{alices_lead.pk}/").content
    assert b"Reassign to" not in signed_in(client, alice).get(f"/leads/{alices_lead.pk}/").content


def test_actions_refuse_get(client, alice, alices_lead):
    signed_in(client, alice)
    for action in ("accept", "claim", "status", "note", "contact", "reassign"):
        assert client.get(f"/leads/{alices_lead.pk}/{action}/").status_code == 405


def test_actions_need_the_csrf_token(alice, alices_lead):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    assert client.post(f"/leads/{alices_lead.pk}/accept/").status_code == 403
    alices_lead.refresh_from_db()
    assert alices_lead.accepted_at is None


# --- The lead page's content --------------------------------------------------------------------


def test_the_lead_page_tells_the_inquiry_and_the_routing_explanation(client, alice, alices_lead):
    Lead.objects.filter(pk=alices_lead.pk).update(
        property_address="1500 Ocean Dr", property_city="Miami Beach", property_state="FL",
        property_zip="33139", price=Decimal("725000"),
    )  # fmt: skip
    rule = RoutingRule.objects.create(team=alice.team, name="Miami Beach")
    RoutingDecision.objects.create(
        lead=alices_lead,
        agent=alice,
        rule=rule,
        mode="round_robin",
        matched=[{"rule": rule.pk, "name": "Miami Beach", "territory": "Miami Beach",
                  "area": "ZIP 33139", "by": "territory Miami Beach by ZIP 33139"}],
        skipped=[{"agent": 9, "name": "Bob", "reason": "paused"}],
        reason="Rule Miami Beach, round robin: Alice.",
    )  # fmt: skip
    page = signed_in(client, alice).get(f"/leads/{alices_lead.pk}/").content.decode()
    assert "1500 Ocean Dr" in page
    assert "$725,000" in page
    assert "Can we see it on Saturday?" in page
    assert "Assigned to Alice" in page
    assert "ZIP 33139 is in the Miami Beach territory; picked in turn (round robin)." in page
    assert "Passed over: Bob (paused)." in page


def test_the_lead_page_lists_the_persons_other_leads_the_user_may_see(
    client, alice, bob, alices_lead
):
    contact = alices_lead.contact
    mine = Lead.objects.create(
        contact=contact, team=alice.team, source="zillow", external_id="z-1",
        received_at=timezone.now(), assigned_agent=alice,
    )  # fmt: skip
    Lead.objects.create(
        contact=contact, team=alice.team, source="realtor", external_id="r-1",
        received_at=timezone.now(), assigned_agent=bob,
    )  # fmt: skip
    related = signed_in(client, alice).get(f"/leads/{alices_lead.pk}/").context["related"]
    assert [lead.pk for lead in related] == [mine.pk]


# --- Inbox order, filters, search --------------------------------------------------------------


def test_the_inbox_puts_new_leads_first_by_deadline_then_accepted_then_the_rest(client, alice):
    now = timezone.now()
    team = alice.team
    closed = make_lead(team, alice, first_name="Closed", status=Lead.Status.CLOSED_WON)
    accepted = make_lead(team, alice, first_name="Accepted", status=Lead.Status.ACCEPTED)
    later = make_lead(team, alice, first_name="Later", sla_due_at=now + dt.timedelta(minutes=9))
    sooner = make_lead(team, alice, first_name="Sooner", sla_due_at=now + dt.timedelta(minutes=2))
    Lead.objects.filter(pk=closed.pk).update(updated_at=now + dt.timedelta(hours=1))
    rows = signed_in(client, alice).get("/").context["rows"]
    assert [lead.pk for lead in rows] == [sooner.pk, later.pk, accepted.pk, closed.pk]
    assert b"data-due=" in client.get("/").content


def test_the_inbox_filters_by_status_source_and_type(client, alice, oscar):
    make_lead(alice.team, alice, first_name="Web")
    zillow = make_lead(alice.team, alice, first_name="Zed", source="zillow", lead_type="seller")
    make_lead(oscar.team, oscar, source="facebook")
    signed_in(client, alice)
    assert client.get("/").context["sources"] == ["webform", "zillow"]  # the team's own
    assert [r.pk for r in client.get("/?source=zillow").context["rows"]] == [zillow.pk]
    assert [r.pk for r in client.get("/?lead_type=seller").context["rows"]] == [zillow.pk]
    Lead.objects.filter(pk=zillow.pk).update(status=Lead.Status.CLOSED_LOST)
    assert [r.pk for r in client.get("/?status=closed").context["rows"]] == [zillow.pk]
    assert zillow.pk not in [r.pk for r in client.get("/?status=open").context["rows"]]


@pytest.mark.parametrize(
    "query", ["jordan", "JORDAN avery", "jordan@example", "(305) 555-0147", "0147"]
)
def test_search_finds_a_person_by_name_email_or_phone(client, alice, query):
    wanted = make_lead(alice.team, alice, email="jordan@example.com", phone="+13055550147")
    make_lead(alice.team, alice, first_name="Sam", email="sam@example.com", phone="+13055550999")
    rows = signed_in(client, alice).get("/", {"q": query}).context["rows"]
    assert [r.pk for r in rows] == [wanted.pk]


def test_search_never_reaches_beyond_what_the_user_may_see(client, alice, bob):
    make_lead(alice.team, bob, email="secret@example.com")
    assert list(signed_in(client, alice).get("/?q=secret").context["rows"]) == []


def test_htmx_search_answers_with_the_list_only(client, alice, alices_lead):
    response = signed_in(client, alice).get(
        "/?q=jordan", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="lead-list"
    )
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert f'id="row-{alices_lead.pk}"'.encode() in response.content


def test_the_inbox_pages_through_many_leads(client, alice):
    for _ in range(30):
        make_lead(alice.team, alice)
    first = signed_in(client, alice).get("/")
    assert len(first.context["rows"]) == 25
    assert first.context["next_page"] == 2
    assert 'hx-push-url="true"' in first.content.decode()  # "More" keeps page=2 in the address
    more = client.get("/?page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="more")
    assert len(more.context["rows"]) == 5
    assert more.context["next_page"] is None


@pytest.mark.parametrize("persona", ["alice", "mona"])
@pytest.mark.parametrize("path", ["/", "/pool/"])
def test_a_refresh_of_page_two_keeps_both_pages_and_the_filters(request, client, persona, path):
    agent = request.getfixturevalue(persona)
    owner = None if path == "/pool/" else agent
    leads = [make_lead(agent.team, owner, source="zillow") for _ in range(30)]
    make_lead(agent.team, owner, source="webform")  # filtered out on the inbox
    query = "?source=zillow&page=2" if path == "/" else "?page=2"
    signed_in(client, agent)
    live = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "lead-list"}
    for response in (client.get(path + query, **live), client.get(path + query)):
        assert response.status_code == 200
        shown = {lead.pk for lead in response.context["rows"]}
        expected = {lead.pk for lead in leads}
        if path == "/pool/":
            expected |= {Lead.objects.get(team=agent.team, source="webform").pk}
        assert shown == expected  # pages 1 and 2, still only Zillow's on the inbox
        assert response.context["next_page"] is None
    assert "<html" not in client.get(path + query, **live).content.decode()


def test_a_refresh_far_down_the_list_shows_at_most_ten_pages(client, alice):
    contact = make_lead(alice.team, alice).contact
    Lead.objects.bulk_create(
        [
            Lead(contact=contact, team=alice.team, source="webform", external_id=f"far-{n}",
                 received_at=timezone.now(), assigned_agent=alice)
            for n in range(11 * 25)
        ]
    )  # fmt: skip
    response = signed_in(client, alice).get("/?each=inquiry&page=11")  # one person's leads
    assert len(response.context["rows"]) == 10 * 25  # pages 2 to 11
    assert response.context["next_page"] == 12  # one lead more


# --- Settings ----------------------------------------------------------------------------------


def test_alice_sets_her_phone_and_hours(client, alice):
    response = signed_in(client, alice).post(
        "/settings/",
        {
            "mobile_phone": "(305) 555-0188",
            "time_zone": "America/Chicago",
            "mon_start": "09:00",
            "mon_end": "17:30",
            "sat_start": "10:00",
            "sat_end": "14:00",
            **{f"{day}_off": "on" for day in ("tue", "wed", "thu", "fri", "sun")},
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.mobile_phone == "+13055550188"
    assert alice.time_zone == "America/Chicago"
    assert alice.working_hours == {"mon": [["09:00", "17:30"]], "sat": [["10:00", "14:00"]]}
    entry = LogEntry.objects.get(object_id=str(alice.pk))
    assert entry.user_id == alice.user_id
    assert "Mobile phone" in entry.get_change_message() or "mobile" in entry.get_change_message()


def test_settings_keep_a_phone_shown_as_dialled_at_home_in_e164(client, bob):
    page = signed_in(client, bob).get("/settings/")
    initial = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    client.post("/settings/", initial)
    bob.refresh_from_db()
    assert bob.mobile_phone == "+13055550101"


def test_settings_refuse_a_bad_phone_and_hours_that_make_no_span(client, alice):
    response = signed_in(client, alice).post(
        "/settings/",
        {
            "mobile_phone": "12",
            "time_zone": "America/New_York",
            "tue_start": "18:00",
            "tue_end": "18:00",
            "wed_start": "09:00",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid phone number" in page
    assert "Tuesday: the start and the end are the same." in page
    assert "Wednesday: give both times, or neither." in page
    alice.refresh_from_db()
    assert alice.mobile_phone == "+13055550100"


def test_settings_show_the_agents_own_values(client, bob):
    page = signed_in(client, bob).get("/settings/").content.decode()
    assert 'value="(305) 555-0101"' in page  # Bob's +13055550101, as he would type it


# --- Dashboard ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"), [("alice", 403), ("bob", 403), ("mona", 200), ("oscar", 403)]
)
def test_the_dashboard_is_for_managers(request, client, persona, expected):
    agent = request.getfixturevalue(persona)
    assert signed_in(client, agent).get("/dashboard/").status_code == expected


def test_the_dashboard_shows_speed_to_lead_charts_and_breaches(client, alice, bob, mona, oscar):
    now = timezone.now()
    for minutes, agent in ((2, alice), (4, alice), (30, bob)):
        make_lead(
            alice.team, agent, received_at=now - dt.timedelta(hours=1),
            accepted_at=now - dt.timedelta(hours=1) + dt.timedelta(minutes=minutes),
            status=Lead.Status.ACCEPTED,
        )  # fmt: skip
    make_lead(alice.team, bob, first_name="Late", sla_due_at=now - dt.timedelta(minutes=3))
    make_lead(oscar.team, oscar, first_name="Elsewhere", sla_due_at=now - dt.timedelta(minutes=3))
    response = signed_in(client, mona).get("/dashboard/?days=7")
    page = response.content.decode()
    assert response.context["board"].days == 7
    assert "<svg" in page
    assert "Late" in page
    assert "Elsewhere" not in page
    by_agent = {row["label"]: row for row in response.context["by_agent"]}
    assert by_agent["Alice"]["accept_median"] == "3m 00s"
    assert by_agent["Bob"]["accept_median"] == "30m 00s"
    assert "<script" not in page.split("</head>", 1)[1]


def test_the_dashboard_falls_back_to_30_days_for_an_unknown_period(client, mona):
    assert signed_in(client, mona).get("/dashboard/?days=9999").context["board"].days == 30
    assert client.get("/dashboard/?days=abc").context["board"].days == 30


# --- Working hours and time zone, as an agent sets them -----------------------------------------

MONDAY_10AM = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York


def at_new_york(days: int = 0, hour: int = 10) -> dt.datetime:
    """``hour`` o'clock in New York, ``days`` after Monday 16 November 2026."""
    return MONDAY_10AM + dt.timedelta(days=days, hours=hour - 10)


def test_monday_hours_alone_leave_the_other_days_open_not_off(client, alice):
    from leads.routing import within_hours

    signed_in(client, alice).post(
        "/settings/",
        {"time_zone": "America/New_York", "mon_start": "09:00", "mon_end": "17:00"},
    )
    alice.refresh_from_db()
    assert within_hours(alice, at_new_york(0, 10))
    assert not within_hours(alice, at_new_york(0, 8))  # Monday before nine
    assert within_hours(alice, at_new_york(1, 10))  # Tuesday: no hours given, so all day
    assert within_hours(alice, at_new_york(5, 3))  # Saturday night too
    page = client.get("/settings/").content.decode()
    assert 'name="mon_start" value="09:00"' in page
    assert 'name="tue_start"' in page
    assert 'name="tue_start" value=' not in page


def test_an_overnight_shift_is_kept_and_runs_past_midnight(client, alice):
    from leads.routing import within_hours

    days_off = {f"{day}_off": "on" for day in ("mon", "tue", "wed", "thu", "sat", "sun")}
    response = signed_in(client, alice).post(
        "/settings/",
        {"time_zone": "America/New_York", "fri_start": "22:00", "fri_end": "06:00", **days_off},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.working_hours == {"fri": [["22:00", "06:00"]]}
    assert within_hours(alice, at_new_york(4, 23))  # Friday 23:00
    assert within_hours(alice, at_new_york(5, 5))  # Saturday 05:00, the same shift
    assert not within_hours(alice, at_new_york(5, 7))  # Saturday 07:00: done
    assert not within_hours(alice, at_new_york(4, 21))  # Friday 21:00: not yet
    assert not within_hours(alice, at_new_york(0, 2))  # Monday 02:00: Sunday was off
    page = client.get("/settings/").content.decode()
    assert 'name="fri_start" value="22:00"' in page
    assert 'name="fri_end" value="06:00"' in page
    assert re.search(r'name="mon_off"[^>]*checked', page)


def test_every_day_off_is_refused_in_favour_of_pause(client, alice):
    days_off = {f"{day}_off": "on" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    response = signed_in(client, alice).post(
        "/settings/", {"time_zone": "America/New_York", **days_off}
    )
    assert response.status_code == 400
    assert "Every day is off: use Pause instead" in response.content.decode()


def test_the_time_zone_menu_is_short_and_keeps_an_unusual_zone_of_the_agent(client, alice):
    alice.time_zone = "Europe/Lisbon"
    alice.save()
    page = signed_in(client, alice).get("/settings/").content.decode()
    menu = re.search(r'<select name="time_zone".*?</select>', page, re.S)
    assert menu is not None
    options = re.findall(r'<option value="([^"]+)"', menu.group(0))
    assert len(options) < 15
    assert {"America/New_York", "America/Los_Angeles", "Europe/Lisbon"} <= set(options)
    assert re.search(r'<option value="Europe/Lisbon" selected>', menu.group(0))
    refused = client.post("/settings/", {"time_zone": "Asia/Tokyo"})
    assert refused.status_code == 400
