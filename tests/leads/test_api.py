"""The REST API: who may do what (a matrix over the four personas and every endpoint),
tokens, filters, pagination, errors and throttling."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from integrations.intake.models import WebForm
from leads.models import Activity, Agent, ApiToken, Contact, Lead, RoutingRule, Territory
from leads.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


@dataclass
class World:
    """Miami: Alice's lead, Bob's lead and one in the pool; Orlando: Oscar's lead."""

    agents: dict[str, Agent]
    leads: dict[str, Lead]
    ids: dict[str, int]
    tokens: dict[str, str]

    def url(self, template: str) -> str:
        return template.format(**self.ids)


def make_lead(team, name: str, agent: Agent | None, minutes_ago: int = 0, **fields: Any) -> Lead:
    contact = Contact.objects.create(first_name=name, email=f"{name.lower()}@example.org")
    return Lead.objects.create(
        contact=contact,
        team=team,
        source=fields.pop("source", "webform"),
        external_id=f"world-{name}",
        received_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        assigned_agent=agent,
        assigned_at=timezone.now() if agent else None,
        **fields,
    )


@pytest.fixture
def world(team, other_team, alice, bob, mona, oscar) -> World:
    leads = {
        "a": make_lead(team, "Ann", alice, 30),
        "b": make_lead(team, "Ben", bob, 20),
        "pool": make_lead(team, "Pia", None, 10, source="zillow"),
        "o": make_lead(other_team, "Ola", oscar, 5),
    }
    territory = Territory.objects.create(team=team, name="Miami Beach", zip_codes=["33139"])
    elsewhere = Territory.objects.create(team=other_team, name="Winter Park", zip_codes=["32789"])
    forms = {
        "form": WebForm.objects.create(public_key="miami-form", name="Site", team=team),
        "oform": WebForm.objects.create(public_key="orlando-form", name="Site", team=other_team),
    }
    ids = {key: lead.pk for key, lead in leads.items()}
    ids.update({f"{key}_contact": lead.contact_id for key, lead in leads.items()})
    ids.update(
        {
            name: agent.pk
            for name, agent in dict(alice=alice, bob=bob, mona=mona, oscar=oscar).items()
        }
    )
    ids.update(territory=territory.pk, oterritory=elsewhere.pk)
    ids.update(rule=RoutingRule.objects.get(territory=territory).pk)
    ids.update(orule=RoutingRule.objects.get(territory=elsewhere).pk)
    ids.update({key: form.pk for key, form in forms.items()})
    agents = dict(alice=alice, bob=bob, mona=mona, oscar=oscar)
    tokens = {name: api_token_create(user=a.user, name="test")[1] for name, a in agents.items()}
    return World(agents, leads, ids, tokens)


def call(world: World, who: str, method: str, path: str, body: dict | None = None):
    headers = {"Authorization": f"Bearer {world.tokens[who]}"}
    return getattr(Client(), method)(
        world.url(path), body or {}, content_type="application/json", headers=headers
    )


# (method, path, body, {persona: status}): exactly what the agent app allows, server-side.
MATRIX = [
    ("get", "/api/v1/leads/{a}/", None, dict(alice=200, bob=404, mona=200, oscar=404)),
    ("get", "/api/v1/leads/{b}/", None, dict(alice=404, bob=200, mona=200, oscar=404)),
    ("get", "/api/v1/leads/{pool}/", None, dict(alice=200, bob=200, mona=200, oscar=404)),
    ("get", "/api/v1/leads/{o}/", None, dict(alice=404, bob=404, mona=404, oscar=200)),
    ("get", "/api/v1/leads/{a}/activities/", None, dict(alice=200, bob=404, mona=200, oscar=404)),
    (
        "patch",
        "/api/v1/leads/{a}/",
        {"status": "contacted"},
        dict(alice=200, bob=404, mona=200, oscar=404),
    ),
    (
        "patch",
        "/api/v1/leads/{pool}/",
        {"status": "contacted"},
        dict(alice=403, bob=403, mona=200, oscar=404),
    ),
    (
        "post",
        "/api/v1/leads/{a}/notes/",
        {"text": "Called"},
        dict(alice=201, bob=404, mona=201, oscar=404),
    ),
    (
        "post",
        "/api/v1/leads/{pool}/notes/",
        {"text": "Hi"},
        dict(alice=403, bob=403, mona=201, oscar=404),
    ),
    ("post", "/api/v1/leads/{a}/accept/", None, dict(alice=200, bob=404, mona=403, oscar=404)),
    ("post", "/api/v1/leads/{pool}/claim/", None, dict(alice=200, bob=200, mona=200, oscar=404)),
    ("post", "/api/v1/leads/{b}/claim/", None, dict(alice=404, bob=403, mona=403, oscar=404)),
    (
        "post",
        "/api/v1/leads/{a}/assign/",
        {"agent": "{bob}"},
        dict(alice=403, bob=404, mona=200, oscar=404),
    ),
    ("get", "/api/v1/contacts/{a_contact}/", None, dict(alice=200, bob=404, mona=200, oscar=404)),
    (
        "get",
        "/api/v1/contacts/{pool_contact}/",
        None,
        dict(alice=200, bob=200, mona=200, oscar=404),
    ),
    ("get", "/api/v1/agents/{alice}/", None, dict(alice=200, bob=404, mona=200, oscar=404)),
    (
        "patch",
        "/api/v1/agents/{alice}/",
        {"is_paused": True},
        dict(alice=200, bob=404, mona=200, oscar=404),
    ),
    (
        "patch",
        "/api/v1/agents/{alice}/",
        {"daily_capacity": 3},
        dict(alice=403, bob=404, mona=200, oscar=404),
    ),
    ("get", "/api/v1/territories/", None, dict(alice=403, bob=403, mona=200, oscar=403)),
    (
        "get",
        "/api/v1/territories/{territory}/",
        None,
        dict(alice=403, bob=403, mona=200, oscar=403),
    ),
    (
        "get",
        "/api/v1/territories/{oterritory}/",
        None,
        dict(alice=403, bob=403, mona=404, oscar=403),
    ),
    ("get", "/api/v1/routing-rules/", None, dict(alice=403, bob=403, mona=200, oscar=403)),
    ("get", "/api/v1/routing-rules/{rule}/", None, dict(alice=403, bob=403, mona=200, oscar=403)),
    ("get", "/api/v1/routing-rules/{orule}/", None, dict(alice=403, bob=403, mona=404, oscar=403)),
    ("get", "/api/v1/web-forms/{form}/", None, dict(alice=200, bob=200, mona=200, oscar=404)),
    ("get", "/api/v1/web-forms/{oform}/", None, dict(alice=404, bob=404, mona=404, oscar=200)),
]
CASES = [
    pytest.param(method, path, body, who, status, id=f"{who}-{method}-{path}")
    for method, path, body, expected in MATRIX
    for who, status in expected.items()
]


@pytest.mark.parametrize(("method", "path", "body", "who", "status"), CASES)
def test_each_persona_may_do_exactly_what_the_app_allows(world, method, path, body, who, status):
    if body is not None:
        body = {
            k: int(world.url(v)) if isinstance(v, str) and v.startswith("{") else v
            for k, v in body.items()
        }
    response = call(world, who, method, path, body)

    assert response.status_code == status, response.content
    if status >= 400:
        error = response.json()
        assert error["status"] == status
        assert error["code"] != ""
        assert error["message"] != ""


LISTS = {
    "/api/v1/leads/": dict(
        alice={"a", "pool"}, bob={"b", "pool"}, mona={"a", "b", "pool"}, oscar={"o"}
    ),
    "/api/v1/contacts/": dict(
        alice={"a_contact", "pool_contact"},
        bob={"b_contact", "pool_contact"},
        mona={"a_contact", "b_contact", "pool_contact"},
        oscar={"o_contact"},
    ),
    "/api/v1/agents/": dict(
        alice={"alice"}, bob={"bob"}, mona={"alice", "bob", "mona"}, oscar={"oscar"}
    ),
    "/api/v1/web-forms/": dict(alice={"form"}, bob={"form"}, mona={"form"}, oscar={"oform"}),
}


@pytest.mark.parametrize("who", ["alice", "bob", "mona", "oscar"])
@pytest.mark.parametrize("path", list(LISTS))
def test_each_list_holds_what_the_persona_may_see(world, path, who):
    response = call(world, who, "get", path)

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {
        world.ids[k] for k in LISTS[path][who]
    }


def test_a_manager_lists_only_the_team_s_territories_and_rules(world):
    territories = call(world, "mona", "get", "/api/v1/territories/").json()["results"]
    rules = call(world, "mona", "get", "/api/v1/routing-rules/").json()["results"]

    assert [t["name"] for t in territories] == ["Miami Beach"]
    assert {r["name"] for r in rules} == {"Miami Beach", "Team default"}
    assert all(r["id"] != world.ids["orule"] for r in rules)


# --- Writes go through the services --------------------------------------------------------


def test_moving_a_lead_writes_the_timeline_and_accepts_it(world):
    response = call(world, "alice", "patch", "/api/v1/leads/{a}/", {"status": "contacted"})

    lead = world.leads["a"]
    lead.refresh_from_db()
    assert response.json()["status"] == "contacted"
    assert lead.accepted_at is not None
    assert Activity.objects.filter(lead=lead, kind="status_changed").exists()


def test_a_note_is_added_to_the_timeline_and_shows_in_activities(world):
    created = call(world, "alice", "post", "/api/v1/leads/{a}/notes/", {"text": "Left a voicemail"})
    timeline = call(world, "alice", "get", "/api/v1/leads/{a}/activities/").json()

    assert created.status_code == 201
    assert created.json()["text"] == "Left a voicemail"
    assert timeline[0]["kind"] == "note"
    assert timeline[0]["details"] == ["Left a voicemail"]


def test_a_claimed_lead_leaves_the_others_pool(world):
    first = call(world, "alice", "post", "/api/v1/leads/{pool}/claim/")
    second = call(world, "bob", "post", "/api/v1/leads/{pool}/claim/")

    assert first.status_code == 200
    assert first.json()["assigned_agent"]["id"] == world.ids["alice"]
    assert second.status_code == 404  # Alice's lead now, which Bob may not see
    assert Lead.objects.get(pk=world.ids["pool"]).assigned_agent_id == world.ids["alice"]


def test_accepting_twice_is_harmless(world):
    call(world, "alice", "post", "/api/v1/leads/{a}/accept/")
    again = call(world, "alice", "post", "/api/v1/leads/{a}/accept/")

    assert again.status_code == 200
    assert again.json()["status"] == "accepted"


def test_a_manager_assigns_only_to_an_agent_of_the_team(world):
    response = call(
        world, "mona", "post", "/api/v1/leads/{a}/assign/", {"agent": world.ids["oscar"]}
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["agent"]
    assert Lead.objects.get(pk=world.ids["a"]).assigned_agent_id == world.ids["alice"]


def test_a_manager_pauses_an_agent_and_sets_their_capacity(world):
    response = call(
        world, "mona", "patch", "/api/v1/agents/{bob}/", {"is_paused": True, "daily_capacity": 4}
    )

    bob = Agent.objects.get(pk=world.ids["bob"])
    assert response.json()["is_paused"] is True
    assert (bob.is_paused, bob.daily_capacity) == (True, 4)


def test_an_unknown_status_is_a_400_naming_the_field(world):
    response = call(world, "alice", "patch", "/api/v1/leads/{a}/", {"status": "sold"})

    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "code": "invalid",
        "message": "Please correct the fields marked: status.",
        "fields": {"status": ['"sold" is not a valid choice.']},
    }


def test_a_body_over_the_limit_is_a_413_in_the_same_shape(world, settings):
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = call(world, "alice", "post", "/api/v1/leads/{a}/notes/", {"body": padding})

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "too_large"
    assert response.json()["status"] == 413


# --- Who is asking -----------------------------------------------------------------------


def test_without_credentials_it_asks_for_a_bearer_token(client, world):
    response = client.get("/api/v1/leads/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


def test_a_revoked_token_no_longer_opens_the_api(world):
    api_token_revoke(token=ApiToken.objects.get(user=world.agents["alice"].user))

    response = call(world, "alice", "get", "/api/v1/leads/")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_made_up_token_is_refused(client, world):
    response = client.get("/api/v1/leads/", headers={"Authorization": "Bearer lla_made-up"})

    assert response.status_code == 401


def test_only_the_digest_is_stored_and_the_prefix_names_the_token(world):
    token = ApiToken.objects.get(user=world.agents["alice"].user)
    raw = world.tokens["alice"]

    assert raw.startswith("lla_")
    assert len(raw) >= 40
    assert raw not in (token.digest, token.prefix)
    assert raw.startswith(token.prefix)
    assert token.last_used_at is None
    call(world, "alice", "get", "/api/v1/leads/")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_web_session_opens_the_api_too(client, world):
    client.force_login(world.agents["bob"].user)

    response = client.get("/api/v1/leads/")

    assert {row["id"] for row in response.json()["results"]} == {world.ids["b"], world.ids["pool"]}


def test_a_sign_in_without_an_agent_profile_sees_nothing(client, world):
    staff = get_user_model().objects.create_user("ops", "ops@example.com", "pw", is_staff=True)
    raw = api_token_create(user=staff, name="ops")[1]

    response = client.get("/api/v1/leads/", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 403


def test_requests_are_throttled_per_token_with_retry_after(world, settings):
    settings.API_RATE_LIMIT = "3/min"
    answers = [call(world, "alice", "get", "/api/v1/agents/").status_code for _ in range(4)]
    other_token = api_token_create(user=world.agents["alice"].user, name="second")[1]
    other = Client().get("/api/v1/agents/", headers={"Authorization": f"Bearer {other_token}"})

    limited = call(world, "alice", "get", "/api/v1/agents/")
    assert answers == [200, 200, 200, 429]
    assert other.status_code == 200
    assert limited.json()["code"] == "throttled"
    assert 0 < int(limited["Retry-After"]) <= 60


# --- Filters, order, pages ---------------------------------------------------------------


def ids_of(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def test_filters_narrow_the_list(world):
    mona = world.ids
    assert ids_of(call(world, "mona", "get", "/api/v1/leads/?source=zillow")) == [mona["pool"]]
    assert ids_of(call(world, "mona", "get", "/api/v1/leads/?agent={bob}")) == [mona["b"]]
    assert ids_of(call(world, "mona", "get", "/api/v1/leads/?scope=pool")) == [mona["pool"]]
    assert ids_of(call(world, "mona", "get", "/api/v1/leads/?search=ann")) == [mona["a"]]
    assert set(ids_of(call(world, "mona", "get", "/api/v1/leads/?status=open"))) == {
        mona["a"], mona["b"], mona["pool"],
    }  # fmt: skip
    assert ids_of(call(world, "mona", "get", "/api/v1/leads/?status=closed_won")) == []


def test_created_and_updated_ranges_and_updated_since_for_polling(world):
    Lead.objects.filter(pk=world.ids["a"]).update(
        created_at=timezone.now() - dt.timedelta(days=3),
        updated_at=timezone.now() - dt.timedelta(days=3),
    )
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    recent = call(world, "mona", "get", "/api/v1/leads/", None)
    old = Client().get(
        "/api/v1/leads/", {"created_before": since},
        headers={"Authorization": f"Bearer {world.tokens['mona']}"},
    )  # fmt: skip
    polled = Client().get(
        "/api/v1/leads/", {"updated_since": since},
        headers={"Authorization": f"Bearer {world.tokens['mona']}"},
    )  # fmt: skip

    assert len(ids_of(recent)) == 3
    assert ids_of(old) == [world.ids["a"]]
    assert set(ids_of(polled)) == {world.ids["b"], world.ids["pool"]}
    updated = [row["updated_at"] for row in polled.json()["results"]]
    assert updated == sorted(updated)  # oldest change first: the last one seen is the next mark


def test_cursor_pages_walk_the_whole_list_in_order(world):
    client = Client()
    headers = {"Authorization": f"Bearer {world.tokens['mona']}"}
    url: str | None = "/api/v1/leads/?page_size=1&ordering=received_at"
    seen = []
    while url:
        page = client.get(url, headers=headers).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]

    assert seen == [world.ids["a"], world.ids["b"], world.ids["pool"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=sold", "status"), ("agent=x", "agent"), ("updated_since=yesterday", "updated_since"),
     ("page_size=500", "page_size"), ("ordering=contact", "ordering"), ("source=", "source")],
)  # fmt: skip
def test_a_bad_filter_is_a_400_naming_it(world, query, field):
    response = call(world, "alice", "get", f"/api/v1/leads/?{query}")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_a_bad_cursor_is_a_404_in_the_same_shape(world):
    response = call(world, "alice", "get", "/api/v1/leads/?cursor=bogus")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_unknown_api_path_answers_json(world):
    response = call(world, "alice", "get", "/api/v1/nothing-here/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_page_of_leads_costs_the_same_queries_however_many_rows(
    world, django_assert_max_num_queries
):
    for number in range(20):
        make_lead(world.agents["mona"].team, f"Extra{number}", world.agents["bob"])
    client = Client()
    headers = {"Authorization": f"Bearer {world.tokens['mona']}"}
    client.get("/api/v1/leads/", headers=headers)  # the token's last use is written once

    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/leads/", headers=headers)

    assert len(response.json()["results"]) == 23


# --- Tokens in the app's settings page and in the admin ----------------------------------


def test_an_agent_makes_a_token_in_settings_and_sees_it_only_once(client, alice):
    client.force_login(alice.user)

    made = client.post("/settings/", {"token_name": "Accounting sync"})
    raw = made.context["new_token"]
    later = client.get("/settings/").content.decode()

    assert made.status_code == 200
    assert raw in made.content.decode()
    assert "no-cache" in made["Cache-Control"]
    assert raw not in later
    assert "Accounting sync" in later
    assert ApiToken.objects.get().prefix in later
    listed = Client().get("/api/v1/agents/", headers={"Authorization": f"Bearer {raw}"})
    assert listed.json()["results"][0]["id"] == alice.pk


def test_a_token_without_a_name_is_not_made(client, alice):
    client.force_login(alice.user)

    response = client.post("/settings/", {"token_name": "  "}, follow=True)

    assert not ApiToken.objects.exists()
    assert "give the token a name" in response.content.decode()


def test_an_agent_revokes_their_own_token_and_nobody_else_s(client, alice, bob):
    mine, _ = api_token_create(user=alice.user, name="mine")
    bobs, _ = api_token_create(user=bob.user, name="bob's")
    client.force_login(alice.user)

    client.post("/settings/", {"revoke_token": str(bobs.pk)})
    client.post("/settings/", {"revoke_token": str(mine.pk)})

    mine.refresh_from_db()
    bobs.refresh_from_db()
    assert mine.revoked_at is not None
    assert bobs.revoked_at is None


def test_operations_make_a_token_in_the_admin_and_see_it_once(admin_client, alice):
    response = admin_client.post(
        "/admin/leads/apitoken/add/", {"user": alice.user.pk, "name": "Zap"}
    )

    token = ApiToken.objects.get()
    page = response.content.decode()
    raw = page.split('<code class="secret">')[1].split("<")[0]
    assert raw.startswith(token.prefix)
    assert "no-cache" in response["Cache-Control"]
    listed = Client().get("/api/v1/leads/", headers={"Authorization": f"Bearer {raw}"})
    assert listed.status_code == 200
    change = admin_client.get(f"/admin/leads/apitoken/{token.pk}/change/").content.decode()
    assert raw not in change


def test_operations_revoke_tokens_from_the_admin(admin_client, alice):
    token, raw = api_token_create(user=alice.user, name="Zap")

    admin_client.post(
        "/admin/leads/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )

    assert (
        Client().get("/api/v1/leads/", headers={"Authorization": f"Bearer {raw}"}).status_code
        == 401
    )
