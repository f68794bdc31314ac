"""What the agent's app answers around the edges of a day's work, persona by persona: pages
the browser must not keep, a second tap, a session that expired with a note half typed, a
lead that went on to someone else, the error pages, a new lead's status menu, the timeline's
routing steps and the time a lead has been with its agent."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from django.views.defaults import server_error

from leads.models import Lead, LeadOffer, RoutingDecision, RoutingRule
from leads.services import lead_claim, lead_reassign, leads_escalate
from tests.leads.test_routing import capture
from tests.leads.test_views import make_lead, signed_in

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx_from(page: str, target: str = "") -> dict[str, str]:
    """The headers htmx sends from ``page`` (a path), aimed at ``target``."""
    headers = {**HTMX, "HTTP_HX_CURRENT_URL": f"http://testserver{page}"}
    return {**headers, "HTTP_HX_TARGET": target} if target else headers


# --- Pages the browser must not keep (Back after Accept) -------------------------------------


@pytest.mark.parametrize(
    ("persona", "url"),
    [
        ("alice", "/"),
        ("alice", "/pool/"),
        ("alice", "/leads/{lead}/"),
        ("alice", "/settings/"),
        ("mona", "/dashboard/"),
    ],
)
def test_the_apps_pages_tell_the_browser_not_to_keep_them(request, client, alice, persona, url):
    lead = make_lead(alice.team, alice)
    agent = request.getfixturevalue(persona)
    response = signed_in(client, agent).get(url.format(lead=lead.pk))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_a_second_tap_on_accept_says_it_is_accepted_instead_of_refusing(client, alice):
    lead = make_lead(alice.team, alice, sla_due_at=timezone.now() + dt.timedelta(minutes=5))
    signed_in(client, alice)
    row = htmx_from("/", f"row-{lead.pk}")
    assert client.post(f"/leads/{lead.pk}/accept/", **row).status_code == 200
    again = client.post(f"/leads/{lead.pk}/accept/", **row)
    assert again.status_code == 200
    assert "Already accepted." in again.content.decode()
    assert ">Accepted</span>" in again.content.decode()
    lead.refresh_from_db()
    assert lead.status == Lead.Status.ACCEPTED


# --- A session that expired with the page open ------------------------------------------------


def test_an_htmx_action_after_the_session_expired_sends_the_page_to_sign_in_and_back(client, alice):
    lead = make_lead(alice.team, alice)
    response = client.post(
        f"/leads/{lead.pk}/note/", {"text": "Call back at 5"}, **htmx_from(f"/leads/{lead.pk}/")
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/accounts/login/?next=/leads/{lead.pk}/"
    assert b"id_password" not in response.content  # no sign-in form swapped into the page
    assert "no-store" in response["Cache-Control"]


def test_an_htmx_search_after_the_session_expired_comes_back_to_the_same_search(client, alice):
    response = client.get("/?q=zoe&status=open", **htmx_from("/?q=zoe&status=open", "lead-list"))
    assert response["HX-Redirect"] == "/accounts/login/?next=/%3Fq%3Dzoe%26status%3Dopen"


def test_a_form_posted_without_javascript_after_expiry_returns_to_the_page_it_came_from(
    client, alice
):
    lead = make_lead(alice.team, alice)
    page = f"http://testserver/leads/{lead.pk}/"
    response = client.post(f"/leads/{lead.pk}/status/", {"status": "qualified"}, HTTP_REFERER=page)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/leads/{lead.pk}/"
    elsewhere = client.post(
        f"/leads/{lead.pk}/status/", {"status": "qualified"}, HTTP_REFERER="https://evil.example/x"
    )
    assert elsewhere["Location"] == "/accounts/login/?next=/"


# --- A lead that went on to someone else ------------------------------------------------------


@pytest.fixture
def escalated(team, beach, alice, bob) -> Lead:
    """Routed to Alice (round robin), not accepted in 5 minutes, so on to Bob."""
    lead = capture(team=team, first_name="Zoë", last_name="Núñez", message="Ocean view?")
    assert lead.assigned_agent == alice
    assert lead.sla_due_at is not None
    leads_escalate(now=lead.sla_due_at + dt.timedelta(seconds=1))
    lead.refresh_from_db()
    assert lead.assigned_agent == bob
    return lead


def at(decision: RoutingDecision) -> str:
    return timezone.localtime(decision.created_at).strftime("%-I:%M %p")


def test_the_alert_link_of_an_escalated_lead_says_who_has_it_and_why(client, alice, escalated):
    taken = escalated.routing_decisions.order_by("-id")[0]
    signed_in(client, alice)
    response = client.get(escalated.get_short_url(), follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "This lead is no longer yours." in html
    assert f"Reassigned to Bob at {at(taken)}: not accepted in 5 min." in html
    assert "Zoë Núñez" in html
    assert "Ocean view?" not in html  # the person's name only, as the alert told it
    assert escalated.contact.email not in html


def test_tapping_accept_on_an_escalated_lead_explains_in_the_inbox_row(client, alice, escalated):
    taken = escalated.routing_decisions.order_by("-id")[0]
    signed_in(client, alice)
    response = client.post(
        f"/leads/{escalated.pk}/accept/", **htmx_from("/", f"row-{escalated.pk}")
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert f'id="row-{escalated.pk}"' in html
    assert f"No longer yours. Reassigned to Bob at {at(taken)}: not accepted in 5 min." in html
    escalated.refresh_from_db()
    assert escalated.assigned_agent.display_name == "Bob"


def test_a_lead_a_manager_reassigned_says_by_whom_and_why(client, team, alice, bob, mona):
    lead = make_lead(team, None)
    lead_claim(lead=lead, agent=alice)
    lead_reassign(lead=lead, manager=mona, agent=bob, reason="Alice is at a closing")
    page = signed_in(client, alice).get(f"/leads/{lead.pk}/").content.decode()
    assert "Reassigned to Bob at" in page
    assert "Reassigned by Mona from Alice: Alice is at a closing" in page


def test_an_offer_someone_else_claimed_says_who(client, team, beach, alice, bob):
    RoutingRule.objects.filter(territory=beach).update(mode=RoutingRule.Mode.FIRST_TO_CLAIM)
    lead = capture(team=team)
    assert set(LeadOffer.objects.filter(lead=lead).values_list("agent", flat=True)) == {
        alice.pk,
        bob.pk,
    }
    assert lead_claim(lead=lead, agent=bob).won
    page = signed_in(client, alice).get(f"/leads/{lead.pk}/").content.decode()
    assert "Claimed by Bob at" in page


def test_a_lead_never_theirs_is_still_a_plain_404(client, oscar, escalated):
    response = signed_in(client, oscar).get(f"/leads/{escalated.pk}/")
    assert response.status_code == 404
    assert "Zoë" not in response.content.decode()


# --- The error pages ---------------------------------------------------------------------------


def test_the_error_pages_are_the_apps_own(client, alice, bob, rf: RequestFactory):
    signed_in(client, alice)
    missing = client.get("/leads/999999/")
    assert missing.status_code == 404
    assert "There is nothing here" in missing.content.decode()
    assert "leads/base.css" in missing.content.decode()

    lead = make_lead(alice.team, alice)
    refused = client.post(f"/leads/{lead.pk}/reassign/", {"agent": bob.pk})
    assert refused.status_code == 403
    assert "Only the team&#x27;s manager may reassign its leads." in refused.content.decode()
    assert "leads/base.css" in refused.content.decode()

    broken = server_error(rf.get("/"))
    assert broken.status_code == 500
    assert "Something went wrong on our side" in broken.content.decode()

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice.user)
    stale = strict.post(f"/leads/{lead.pk}/note/", {"text": "hello"})
    assert stale.status_code == 403
    assert "This page had gone stale" in stale.content.decode()


# --- A new lead's status menu ------------------------------------------------------------------


def test_a_new_leads_status_menu_shows_new_and_not_accepted(client, alice):
    lead = make_lead(alice.team, alice)
    html = signed_in(client, alice).get(f"/leads/{lead.pk}/").content.decode()
    menu = re.search(r'<select name="status" id="id_status"[^>]*>(.*?)</select>', html, re.S)
    assert menu is not None
    chosen = re.findall(r"<option[^>]*\bselected\b[^>]*>([^<]*)</option>", menu.group(1))
    assert chosen == ["New"]
    # Moving on means choosing: the menu's own "New" cannot be sent.
    assert signed_in(client, alice).post(f"/leads/{lead.pk}/status/", {}).status_code == 400


# --- The timeline: each routing step once, in words --------------------------------------------


def test_the_timeline_tells_each_routing_step_once_in_words(client, team, beach, alice, bob):
    bob.is_paused = True
    bob.save()
    lead = capture(team=team, first_name="Jordan")
    Lead.objects.filter(pk=lead.pk).update(sla_due_at=timezone.now())
    bob.is_paused = False
    bob.save()
    leads_escalate(now=timezone.now() + dt.timedelta(seconds=1))
    timeline = signed_in(client, bob).get(f"/leads/{lead.pk}/").context["timeline"]
    routing = [(e.title, e.details) for e in timeline if e.kind in ("routing", "assigned")]
    assert routing == [
        (
            "Not accepted in time, so assigned to Bob",
            ["The next agent of the rule Miami Beach; picked in turn (round robin).",
             "Passed over: Alice (had it already)."],
        ),
        (
            "Assigned to Alice",
            ["ZIP 33139 is in the Miami Beach territory; picked in turn (round robin).",
             "Passed over: Bob (paused)."],
        ),
    ]  # fmt: skip
    kinds = [e.kind for e in timeline]
    assert "escalated" not in kinds  # the escalation is the routing step above, not again


def test_the_team_default_rule_is_said_in_words(client, team, mona):
    lead = capture("90210", team)
    timeline = signed_in(client, mona).get(f"/leads/{lead.pk}/").context["timeline"]
    (step,) = [e for e in timeline if e.kind == "routing"]
    assert step.title == "Left in the team pool"
    assert step.details == [
        "No territory or rule of the team took it: the team's default rule; it sends its "
        "leads to the team pool."
    ]
    assert not [e for e in timeline if e.kind == "unassigned"]


# --- Time since received, and with this agent -------------------------------------------------


def test_after_a_reassign_the_lead_page_tells_how_long_since_received_and_with_whom(
    client, team, beach, alice, bob, mona
):
    lead = capture(team=team)
    received = timezone.now() - dt.timedelta(minutes=10)
    Lead.objects.filter(pk=lead.pk).update(received_at=received)
    RoutingDecision.objects.filter(lead=lead).update(created_at=received + dt.timedelta(seconds=1))
    lead_reassign(lead=lead, manager=mona, agent=bob, now=received + dt.timedelta(minutes=7))
    RoutingDecision.objects.filter(lead=lead, kind="manual").update(
        created_at=received + dt.timedelta(minutes=7)
    )
    page = signed_in(client, bob).get(f"/leads/{lead.pk}/").content.decode()
    assert "Assigned 1.0 s" in page  # the router's speed, not the manager's hand-over
    assert "Assigned 7 min" not in page
    assert "Received 10\xa0minutes ago · yours for 3\xa0minutes" in page
    page = signed_in(client, mona).get(f"/leads/{lead.pk}/").content.decode()
    assert "Received 10\xa0minutes ago · with Bob for 3\xa0minutes" in page
