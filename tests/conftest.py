"""Shared fixtures: the named personas every permission test speaks of, and queue helpers.

Personas (healthchecks style): ``alice`` an agent of the Miami team, ``bob`` a second agent
on the same team, ``mona`` its manager, ``oscar`` an agent of another team.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache, caches
from django.core.cache.backends.db import BaseDatabaseCache
from django.db import connection
from hypothesis import settings as hypothesis_settings

from integrations.intake.models import WebForm
from leads.models import Agent, Team, Territory

IN_CI = os.environ.get("CI", "").lower() == "true"

# Property tests judge answers, not speed: no per-example time limit, which a busy CI
# machine would otherwise turn into failures (speed is measured by bench/).
hypothesis_settings.register_profile("leadline", deadline=None)
hypothesis_settings.load_profile("leadline")


def make_agent(team: Team, username: str, role: str = Agent.Role.AGENT, **fields: Any) -> Agent:
    user = get_user_model().objects.create_user(
        username, f"{username}@example.com", "correct horse battery staple"
    )
    defaults: dict[str, Any] = {
        "display_name": username.title(),
        "email": f"{username}@example.com",
        "mobile_phone": "+13055550100",
        "working_hours": {},
    }
    return Agent.objects.create(user=user, team=team, role=role, **{**defaults, **fields})


@pytest.fixture
def team(db: None) -> Team:
    return Team.objects.create(name="Miami")


@pytest.fixture
def other_team(db: None) -> Team:
    return Team.objects.create(name="Orlando")


@pytest.fixture
def alice(team: Team) -> Agent:
    return make_agent(team, "alice")


@pytest.fixture
def bob(team: Team) -> Agent:
    return make_agent(team, "bob", mobile_phone="+13055550101")


@pytest.fixture
def mona(team: Team) -> Agent:
    return make_agent(team, "mona", role=Agent.Role.MANAGER, mobile_phone="+13055550102")


@pytest.fixture
def oscar(other_team: Team) -> Agent:
    return make_agent(other_team, "oscar", mobile_phone="+14075550103")


@pytest.fixture
def beach(team: Team, alice: Agent, bob: Agent) -> Territory:
    """Miami Beach: ZIPs 33139 and 33140, covered by Alice then Bob."""
    territory = Territory.objects.create(
        team=team, name="Miami Beach", zip_codes=["33139", "33140"]
    )
    territory.agents.set([alice, bob])
    return territory


@pytest.fixture
def web_form(team: Team) -> WebForm:
    return WebForm.objects.create(
        public_key="test-form-key",
        name="Website",
        team=team,
        allowed_origins=["https://www.sunrise.example"],
        marketing_consent_text="Send me new listings by email.",
    )


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Each test starts with empty caches (rate-limit counters live there, also in Redis)."""
    _clear_cache()
    yield
    _clear_cache()


def _clear_cache() -> None:
    """Clear this run's caches; on Redis only its own keys (``clear()`` would empty the whole
    database, under another test run sharing it). A database cache is in the test database,
    rolled back or flushed after each test like every table."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX")
    if not settings.REDIS_URL or not prefix:
        for alias in settings.CACHES:
            if not isinstance(caches[alias], BaseDatabaseCache):
                caches[alias].clear()
        return
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _empty_redis_queue() -> None:
    """Redis keeps tasks across tests (the ORM queue is rolled back with the test database)."""
    if settings.REDIS_URL:
        from django_q.brokers import get_broker

        get_broker().purge_queue()


@pytest.fixture(autouse=True)
def _required_services(request: pytest.FixtureRequest) -> None:
    """Tests marked ``postgres`` or ``redis`` need that service for real.

    Outside CI a missing service skips them; with CI=true it fails them. .ci/run deselects
    them (``-m "not postgres and not redis"``) in its SQLite pass and runs them in its
    PostgreSQL + Redis pass.
    """
    available = {
        "postgres": lambda: connection.vendor == "postgresql",
        "redis": lambda: bool(settings.REDIS_URL),
    }
    for kind, is_available in available.items():
        if request.node.get_closest_marker(kind) and not is_available():
            if IN_CI:
                pytest.fail(f"CI=true but {kind} is not configured for this run")
            pytest.skip(f"needs {kind} (set DATABASE_URL=postgres://... / REDIS_URL=redis://...)")


@pytest.fixture
def run_queue() -> Callable[[], int]:
    """Return a function that does, in this process, what the queue workers would: processes
    every due inbound event as their claimers do, and runs every task waiting on the broker,
    until neither is left; it returns how many events and tasks it ran.

    The events are claimed from their rows with the claimers' own statement (due ones only:
    not waiting for a retry, not held after a failed attempt), and the tasks taken from the
    real broker (ORM or Redis) exactly as a worker takes them, so a test sees what was
    stored and enqueued, not what it assumed would be. Inside a test's transaction, the
    ``on_commit`` callbacks waiting so far run first, as a commit would run them (that is how
    the Redis broker is rung); do not combine it with
    ``django_capture_on_commit_callbacks(execute=True)``, which would run them twice.
    """
    from django.utils.module_loading import import_string
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    from integrations.intake.services import events_process_due

    broker = get_broker()

    def run() -> int:
        count = 0
        while True:
            _commit_callbacks()
            events = events_process_due(limit=settings.EVENT_CLAIM_BATCH)
            count += events
            _commit_callbacks()
            batch = broker.dequeue()
            if not batch and not events:
                return count
            for ack_id, payload in batch or ():
                task = SignedPackage.loads(payload)
                import_string(task["func"])(*task["args"], **task["kwargs"])
                broker.acknowledge(ack_id)
                count += 1

    return run


def _commit_callbacks() -> None:
    """Run the on-commit callbacks of the test's open transaction, as its commit would."""
    while connection.run_on_commit:
        pending = list(connection.run_on_commit)
        connection.run_on_commit.clear()
        for callback in pending:
            callback[1]()  # (savepoint ids, function, robust)
