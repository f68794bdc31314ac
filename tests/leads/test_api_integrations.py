"""Integrations (a system with its own key, team, source and scopes, no person behind it)
and the rate limit every API answer states (``RateLimit-*``)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from leads import ratelimit
from leads.models import Contact, Integration, Lead, RateCounter
from leads.services import api_token_create, integration_create, integration_key_set
from leads.services import integration_revoke as revoke

pytestmark = pytest.mark.django_db

READ = Integration.Scope.LEADS_READ


def lead_of(team, name: str, agent=None) -> Lead:
    contact = Contact.objects.create(first_name=name, email=f"{name.lower()}@example.org")
    return Lead.objects.create(
        contact=contact, team=team, source="webform", external_id=f"int-{name}",
        received_at=timezone.now(), assigned_agent=agent,
    )  # fmt: skip


def get(path: str, key: str, client: Client | None = None, **extra):
    return (client or Client()).get(path, headers={"Authorization": f"Bearer {key}"}, **extra)


@pytest.fixture
def idx(team) -> tuple[Integration, str]:
    return integration_create(name="IDX website", team=team, source="idx-website", scopes=[READ])


def test_an_integration_reads_its_teams_leads_and_no_others(idx, alice, oscar):
    mine, pool = lead_of(alice.team, "Ann", alice), lead_of(alice.team, "Pia")
    lead_of(oscar.team, "Ola", oscar)

    response = get("/api/v1/leads/", idx[1])

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {mine.pk, pool.pk}
    assert get(f"/api/v1/leads/{mine.pk}/", idx[1]).status_code == 200
    assert get("/api/v1/leads/?scope=mine", idx[1]).json()["results"] == []


def test_an_integration_lists_its_teams_agents_to_name_one(idx, alice, bob, oscar):
    response = get("/api/v1/agents/", idx[1])

    assert {row["id"] for row in response.json()["results"]} == {alice.pk, bob.pk}


def test_a_key_without_the_scope_is_refused_naming_it(team, alice):
    _, raw = integration_create(name="Lender", team=team, source="lender", scopes=[])

    response = get("/api/v1/leads/", raw)

    assert response.status_code == 403
    assert "leads:read" in response.json()["message"]


def test_an_integration_cannot_act_as_a_person(idx, alice):
    lead = lead_of(alice.team, "Ann", alice)
    headers = {"Authorization": f"Bearer {idx[1]}"}

    moved = Client().patch(
        f"/api/v1/leads/{lead.pk}/", {"status": "contacted"}, "application/json", headers=headers
    )
    noted = Client().post(
        f"/api/v1/leads/{lead.pk}/notes/", {"text": "hi"}, "application/json", headers=headers
    )

    assert (moved.status_code, noted.status_code) == (403, 403)
    assert "person's token" in moved.json()["message"]


def test_a_revoked_key_stops_and_a_new_key_replaces_the_old(idx, alice):
    integration, old = idx
    revoke(integration=integration)
    assert get("/api/v1/leads/", old).status_code == 401

    new = integration_key_set(integration=integration)

    assert get("/api/v1/leads/", new).status_code == 200
    assert get("/api/v1/leads/", old).status_code == 401


def test_a_source_is_one_integrations_only(team, idx):
    with pytest.raises(ValueError, match=r"^source:"):
        integration_create(name="Other", team=team, source="idx-website", scopes=[READ])


def test_operations_make_an_integration_in_the_admin_and_see_its_key_once(admin_client, team):
    response = admin_client.post(
        "/admin/leads/integration/add/",
        {"name": "Open house app", "team": team.pk, "source": "open-house",
         "scopes": ["events:write", "leads:read"], "rate_limit": "1200/min"},
    )  # fmt: skip

    integration = Integration.objects.get(source="open-house")
    page = response.content.decode()
    key = page.split('<code class="secret">')[1].split("</code>")[0]
    assert key.startswith("lli_")
    assert key[:12] == integration.prefix
    assert integration.scopes == ["leads:read", "events:write"]
    assert get("/api/v1/leads/", key).status_code == 200
    change = admin_client.get(f"/admin/leads/integration/{integration.pk}/change/")
    assert key not in change.content.decode()


def test_the_admin_refuses_a_rate_that_is_not_one(admin_client, team):
    response = admin_client.post(
        "/admin/leads/integration/add/",
        {"name": "X", "team": team.pk, "source": "x", "scopes": [], "rate_limit": "fast"},
    )

    assert response.status_code == 200
    assert "not a rate" in response.content.decode()
    assert not Integration.objects.exists()


# --- Rate limits -----------------------------------------------------------------------------


def test_every_answer_states_the_limit_and_what_is_left(alice, settings):
    settings.API_RATE_LIMIT = "5/min"
    raw = api_token_create(user=alice.user, name="t")[1]

    first, second = get("/api/v1/agents/", raw), get("/api/v1/territories/", raw)

    assert first.status_code == 200
    assert second.status_code == 403  # refused, and counted all the same
    assert first["RateLimit-Limit"] == second["RateLimit-Limit"] == "5"
    assert (first["RateLimit-Remaining"], second["RateLimit-Remaining"]) == ("4", "3")
    assert 0 < int(first["RateLimit-Reset"]) <= 60
    assert first["RateLimit-Policy"] == "5;w=60"


def test_an_unauthenticated_answer_counts_against_the_address(settings):
    settings.API_RATE_LIMIT = "2/min"

    answers = [
        get("/api/v1/leads/", "lla_not-a-token", REMOTE_ADDR="203.0.113.9") for _ in range(3)
    ]

    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[0]["RateLimit-Remaining"] == "1"
    assert int(answers[2]["Retry-After"]) > 0


def test_an_integration_has_its_own_rate(team, alice, settings):
    settings.API_RATE_LIMIT = "100/min"
    _, raw = integration_create(
        name="Busy", team=team, source="busy", scopes=[READ], rate_limit="2/min"
    )

    answers = [get("/api/v1/leads/", raw) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "throttled"
    assert answers[0]["RateLimit-Limit"] == "2"


def test_counters_fail_open_when_they_cannot_be_reached(alice, settings, monkeypatch):
    settings.API_RATE_LIMIT = "1/min"
    raw = api_token_create(user=alice.user, name="t")[1]

    def down(*args, **kwargs):
        raise ConnectionError("the counter is down")

    monkeypatch.setattr(ratelimit, "_count_in_table", down)
    monkeypatch.setattr(ratelimit, "_count_in_cache", down)
    answers = [get("/api/v1/agents/", raw) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0]["RateLimit-Limit"] == "1"
    assert "RateLimit-Remaining" not in answers[0]


def test_counters_fail_open_when_redis_is_down(alice, settings):
    """A real Redis client against a port nobody listens on."""
    settings.API_RATE_LIMIT = "1/min"
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        },
    }
    raw = api_token_create(user=alice.user, name="t")[1]

    answers = [get("/api/v1/agents/", raw) for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 200]


def test_windows_that_ended_are_forgotten(alice, settings):
    settings.REDIS_URL = ""  # the table that counts without Redis
    ratelimit.hit("token:1", ratelimit.Rate(10, 60), now=0.0)
    current = ratelimit.hit("token:1", ratelimit.Rate(10, 60))

    assert ratelimit.counters_forget() == 1
    assert RateCounter.objects.count() == 1
    assert current.remaining == 9


@pytest.mark.parametrize("bad", ["", "fast", "0/min", "10/fortnight", "-1/s"])
def test_a_rate_must_be_a_count_per_period(bad):
    with pytest.raises(ValueError, match="is not a rate"):
        ratelimit.parse_rate(bad)
