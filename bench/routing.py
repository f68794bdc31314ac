"""Routing benchmark: decisions per second and p99 decision time at brokerage scale.

Builds a PostgreSQL database of its own with 1,000 agents, 5,000 territories (one round-robin
rule each) and 50,000 ZIP entries, then routes leads through the real engine and prints:
decisions per second, p50/p95/p99 decision time, and the queries per decision, at a small and
at the full size, with few and with many existing leads (the count must not grow).

    .venv/bin/python bench/routing.py [--leads 2000] [--database-url postgres://...]

Not a test: it prints its figures and exits 0. It only talks to the local PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadline_bench_routing"


def setup_django(database_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "localhost",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def recreate_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def build(n_agents: int, n_territories: int, zips_per_territory: int) -> list[str]:
    """Create the team, agents, territories, areas and rules in bulk; return the ZIPs used."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from leads.models import Agent, RoutingRule, Team, Territory, TerritoryArea

    user_model = get_user_model()
    team = Team.objects.create(name="Bench Realty")
    password = make_password(None)
    users = user_model.objects.bulk_create(
        [user_model(username=f"agent{i}", password=password) for i in range(n_agents)],
        batch_size=1000,
    )
    agents = Agent.objects.bulk_create(
        [
            Agent(user=u, team=team, display_name=f"Agent {i}", email=f"agent{i}@bench.example")
            for i, u in enumerate(users)
        ],
        batch_size=1000,
    )
    zips = [f"{10000 + i:05d}" for i in range(n_territories * zips_per_territory)]
    territories = Territory.objects.bulk_create(
        [
            Territory(
                team=team,
                name=f"Territory {t}",
                zip_codes=zips[t * zips_per_territory : (t + 1) * zips_per_territory],
            )
            for t in range(n_territories)
        ],
        batch_size=1000,
    )
    TerritoryArea.objects.bulk_create(
        [TerritoryArea(territory=t, kind="zip", value=z) for t in territories for z in t.zip_codes],
        batch_size=5000,
    )
    RoutingRule.objects.bulk_create(
        [
            RoutingRule(team=team, name=t.name, territory=t, use_territory_agents=True)
            for t in territories
        ],
        batch_size=1000,
    )
    through = Territory.agents.through
    rng = random.Random(7)
    through.objects.bulk_create(
        [
            through(territory_id=t.pk, agent_id=a.pk)
            for t in territories
            for a in rng.sample(agents, 4)
        ],
        batch_size=5000,
    )
    return zips


def add_existing_leads(count: int, zips: list[str]) -> None:
    """Leads already in the database, spread over agents, to show the cost does not grow."""
    from django.utils import timezone

    from leads.models import Agent, Contact, Lead, Team

    team = Team.objects.get()
    agent_ids = list(Agent.objects.values_list("pk", flat=True))
    rng = random.Random(11)
    now = timezone.now()
    contacts = Contact.objects.bulk_create(
        [Contact(email=f"old{i}@bench.example") for i in range(count)], batch_size=5000
    )
    Lead.objects.bulk_create(
        [
            Lead(
                contact=c,
                team=team,
                source="webform",
                external_id=f"old-{i}",
                property_zip=rng.choice(zips),
                assigned_agent_id=rng.choice(agent_ids),
                assigned_at=now,
                received_at=now,
            )
            for i, c in enumerate(contacts)
        ],
        batch_size=5000,
    )


class QueryCounter:
    """Counts the SQL statements run through Django's connection."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))] * 1000


def run(leads: int, zips: list[str], label: str) -> dict[str, float]:
    """Route ``leads`` new leads; time the decision (route) and the whole of lead_route."""
    from django.db import connection, transaction
    from django.utils import timezone

    from leads.models import Contact, Lead, Team
    from leads.routing import route
    from leads.services import lead_route

    team = Team.objects.get()
    rng = random.Random(label)
    decide: list[float] = []
    apply: list[float] = []
    decide_queries: list[int] = []
    apply_queries: list[int] = []
    for n in range(leads):
        contact = Contact.objects.create(email=f"{label}-{n}@bench.example")
        lead = Lead.objects.create(
            contact=contact, team=team, source="webform", external_id=f"{label}-{n}",
            property_zip=rng.choice(zips), received_at=timezone.now(),
        )  # fmt: skip
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            route(lead, new_person=True)  # as lead_capture routes a first inquiry
            decide.append(time.perf_counter() - started)
        decide_queries.append(counter.count)
        counter = QueryCounter()
        with transaction.atomic(), connection.execute_wrapper(counter):
            started = time.perf_counter()
            decision = lead_route(lead=lead, new_person=True)
            apply.append(time.perf_counter() - started)
        apply_queries.append(counter.count)
        assert decision.agent is not None, decision.reason
    decide.sort()
    apply.sort()
    return {
        "decisions/s": leads / sum(decide),
        "p50 ms": percentile(decide, 0.50),
        "p99 ms": percentile(decide, 0.99),
        "queries": statistics.median(decide_queries),
        "max queries": max(decide_queries),
        "routed/s": leads / sum(apply),
        "routed p99 ms": percentile(apply, 0.99),
        "routed queries": max(apply_queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=2000, help="leads routed per measurement")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]}, {os.cpu_count()} cores")

    results = []
    started = time.perf_counter()
    zips = build(n_agents=100, n_territories=500, zips_per_territory=10)
    print(f"small: 100 agents, 500 territories, 5,000 ZIPs ({time.perf_counter() - started:.1f} s)")
    results.append(("small, no old leads", run(args.leads, zips, "small")))

    connection.close()
    recreate_database(args.database_url)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    zips = build(n_agents=1000, n_territories=5000, zips_per_territory=10)
    built = time.perf_counter() - started
    print(f"full: 1,000 agents, 5,000 territories, 50,000 ZIPs ({built:.1f} s)")
    results.append(("full, no old leads", run(args.leads, zips, "full")))
    started = time.perf_counter()
    add_existing_leads(100_000, zips)
    print(f"added 100,000 existing leads ({time.perf_counter() - started:.1f} s)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    results.append(("full, 100k old leads", run(args.leads, zips, "full-old")))

    columns = [
        "decisions/s", "p50 ms", "p99 ms", "queries", "max queries", "routed/s",
        "routed p99 ms", "routed queries",
    ]  # fmt: skip
    print()
    print("decision = route() alone; routed = lead_route(): the decision, the row lock on the")
    print("rule's rotation, and the writes (assignment, decision record, timeline).")
    print(f"| {'scenario':<22} | " + " | ".join(f"{c:>14}" for c in columns) + " |")
    print(f"|{'-' * 24}|" + "|".join("-" * 16 for _ in columns) + "|")
    for label, figures in results:
        cells = " | ".join(f"{figures[c]:>14.1f}" for c in columns)
        print(f"| {label:<22} | {cells} |")


if __name__ == "__main__":
    main()
