"""Agent app benchmark: server time of the inbox, lead page, search, Today, the person page and
the dashboard at scale.

Builds a PostgreSQL database of its own (``leadline_bench_ui``) with 1,000,000 leads over a
year, 200,000 contacts, 500 agents in 25 teams of 20 (one manager each), a timeline entry per
lead, a routing decision per lead of the last 90 days and a follow-up per assigned lead of the
last 30 days, loaded with COPY. Then it signs in
one agent and one manager and requests each page many times through Django's test client
(the whole middleware, view and template stack in this process, no network, no WSGI server)
and prints p50/p95 server time and the queries per page.

    .venv/bin/python bench/ui.py [--requests 60] [--leads 1000000] [--reuse] [--database-url ...]

``--reuse`` keeps a database already built with the same size (the build takes a few
minutes). Not a test: it prints its figures and exits 0. It only talks to the local PostgreSQL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadline_bench_ui"
TEAMS, AGENTS_PER_TEAM = 25, 20
SOURCES = (("webform", 40), ("zillow", 30), ("realtor", 20), ("facebook", 10))
FIRST = (
    "Jordan", "Riley", "Sam", "Morgan", "Casey", "Taylor", "Avery", "Quinn", "Jamie", "Alex",
    "Drew", "Harper", "Rowan", "Emerson", "Logan", "Parker", "Reese", "Skyler", "Blake", "Kai",
)  # fmt: skip
STEMS = (
    "Avery", "Chen", "Patel", "Diaz", "Brooks", "Nguyen", "Lopez", "Carter", "Ruiz", "Kim",
    "Silva", "Moreau", "Novak", "Haddad", "Okafor", "Rossi", "Schmidt", "Tanaka", "Walsh", "Young",
)  # fmt: skip
SUFFIXES = (
    "", "son", "ez", "ski", "ova", "er", "ley", "ton", "ard", "ini", "berg", "field", "wood",
    "man", "ford", "well", "more", "ridge", "stone", "worth", "by", "lin", "ham", "croft", "dale",
)  # fmt: skip
LAST = tuple(f"{stem}{suffix}" for stem in STEMS for suffix in SUFFIXES)
ZIPS = [f"{33100 + i:05d}" for i in range(300)]
MESSAGES = (
    "Can we see it this Saturday?", "Is the price negotiable?", "We are pre-approved.",
    "Thinking of selling our 3-bed.", "Looking for a 2-bed from June.", "Is the HOA included?",
)  # fmt: skip


def setup_django(database_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    # WhiteNoise looks for collected static files the benchmark does not need.
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


def database_exists(database_url: str) -> bool:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            is not None
        )


def recreate_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


# --- Loading with COPY -------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_rows(model: Any, rows: Iterator[dict[str, Any]], chunk: int = 20_000) -> int:
    """COPY ``rows`` (attribute name → value) into ``model``'s table; every column the rows
    do not name gets the field's default, so fields other work adds load too."""
    from django.db import connection
    from django.utils import timezone

    # Generated columns (the contact's search name) are the database's to write.
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and not f.generated]
    now = timezone.now()
    defaults = {}
    for f in fields:
        if f.has_default():
            defaults[f.attname] = _text(f.get_default())
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults[f.attname] = _text(now)
        elif f.null:
            defaults[f.attname] = "\\N"
        else:
            defaults[f.attname] = ""
    names = [f.attname for f in fields]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy,
    ):
        buffer = io.StringIO()
        for row in rows:
            buffer.write(
                "\t".join(_text(row[n]) if n in row else defaults[n] for n in names) + "\n"
            )
            count += 1
            if count % chunk == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return count


def build(n_leads: int, n_contacts: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from leads.models import Activity, Agent, Contact, Lead, RoutingDecision, Task, Team

    rng = random.Random(7)
    now = timezone.now()
    teams = Team.objects.bulk_create([Team(name=f"Team {t:02d}") for t in range(TEAMS)])
    password = make_password("bench-password")
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [
            user_model(username=f"agent{i}", password=password)
            for i in range(TEAMS * AGENTS_PER_TEAM)
        ]
    )
    agents = Agent.objects.bulk_create(
        [
            Agent(
                user=user, team=teams[i // AGENTS_PER_TEAM], display_name=f"Agent {i}",
                email=f"agent{i}@bench.example",
                role=Agent.Role.MANAGER if i % AGENTS_PER_TEAM == 0 else Agent.Role.AGENT,
            )
            for i, user in enumerate(users)
        ]
    )  # fmt: skip
    by_team = [
        [a.pk for a in agents[t * AGENTS_PER_TEAM + 1 : (t + 1) * AGENTS_PER_TEAM]]
        for t in range(TEAMS)
    ]

    started = time.perf_counter()
    copy_rows(
        Contact,
        (
            {
                "first_name": FIRST[i % len(FIRST)],
                "last_name": LAST[(i // len(FIRST)) % len(LAST)],
                "email": f"person{i}@mail.example",
                "phone": f"+1{305 + i % 600:03d}{5550000 + i % 10_000_000:07d}"[:12],
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n_contacts)
        ),
    )
    first_contact = Contact.objects.order_by("pk").values_list("pk", flat=True)[0]
    print(f"  {n_contacts:,} contacts ({time.perf_counter() - started:.0f} s)")

    sources = [s for s, weight in SOURCES for _ in range(weight)]
    later = ("contacted", "qualified", "appointment", "under_contract", "closed_won", "closed_lost")

    def leads() -> Iterator[dict[str, Any]]:
        for i in range(n_leads):
            team = i % TEAMS
            age = dt.timedelta(seconds=rng.random() * 365 * 86400)
            received = now - age
            pooled = rng.random() < 0.04
            if age < dt.timedelta(days=1):
                status = rng.choice(("new", "new", "accepted", "contacted"))
            elif age < dt.timedelta(days=30):
                status = rng.choice(("accepted", "contacted", "qualified", "appointment"))
            else:
                status = rng.choice(later)
            if pooled and age > dt.timedelta(days=30):
                status = "closed_lost"
            accepted = (
                received + dt.timedelta(minutes=rng.expovariate(1 / 8)) if status != "new" else None
            )
            contacted = (
                (accepted or received) + dt.timedelta(minutes=rng.expovariate(1 / 20))
                if status not in ("new", "accepted") else None
            )  # fmt: skip
            yield {
                "public_id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "contact_id": first_contact + rng.randrange(n_contacts),
                "team_id": teams[team].pk,
                "source": rng.choice(sources),
                "external_id": f"bench-{i}",
                "lead_type": rng.choice(("buyer", "buyer", "seller", "renter")),
                "message": rng.choice(MESSAGES),
                "property_zip": rng.choice(ZIPS),
                "property_state": "FL",
                "price": rng.randrange(200, 3000) * 1000 if rng.random() < 0.7 else None,
                "status": status,
                "assigned_agent_id": None if pooled else rng.choice(by_team[team]),
                "sla_due_at": received + dt.timedelta(minutes=5) if status == "new" else None,
                "received_at": received,
                "created_at": received,
                "updated_at": contacted or accepted or received,
                "assigned_at": None if pooled else received,
                "accepted_at": accepted,
                "first_contact_at": contacted,
            }

    started = time.perf_counter()
    copy_rows(Lead, leads())
    print(f"  {n_leads:,} leads ({time.perf_counter() - started:.0f} s)")

    started = time.perf_counter()
    rows = Lead.objects.order_by().values_list(
        "pk", "contact_id", "received_at", "assigned_agent_id"
    )
    copy_rows(
        Activity,
        (
            {
                "contact_id": contact, "lead_id": pk, "kind": "received",
                "summary": "Lead received via webform", "data": {}, "created_at": received,
            }
            for pk, contact, received, _ in rows
        ),
    )  # fmt: skip
    since = now - dt.timedelta(days=90)
    copy_rows(
        RoutingDecision,
        (
            {
                "lead_id": pk, "kind": "initial", "mode": "round_robin", "agent_id": agent,
                "matched": [{"rule": 1, "name": "Territory", "by": "territory by ZIP"}],
                "skipped": [], "reason": "Rule Territory (by ZIP), round robin.",
                "created_at": received,
            }
            for pk, _, received, agent in rows
            if received >= since
        ),
    )  # fmt: skip
    print(f"  timeline and routing decisions ({time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    # Follow-ups: one on each open lead of the last 30 days, due from a week ago to two weeks on
    # (open, and a third of the older ones done).
    recent = now - dt.timedelta(days=30)
    open_rows = Lead.objects.filter(
        received_at__gte=recent, assigned_agent__isnull=False
    ).values_list("pk", "assigned_agent_id", "received_at")
    made = copy_rows(
        Task,
        (
            {
                "lead_id": pk, "agent_id": agent, "kind": rng.choice(("call", "text", "showing")),
                "due_at": (due := now + dt.timedelta(hours=rng.uniform(-7 * 24, 14 * 24))),
                "duration_minutes": 15, "location": "", "note": "",
                "status": "done" if due < now and rng.random() < 0.33 else "open",
                "done_at": None, "reminded_at": None, "created_by_id": None,
                "created_at": received, "updated_at": received,
            }
            for pk, agent, received in open_rows.order_by()
        ),
    )  # fmt: skip
    print(f"  {made:,} follow-ups ({time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  analyze ({time.perf_counter() - started:.0f} s)")


# --- Measuring ----------------------------------------------------------------------------------


def measure(client: Any, urls: Callable[[int], str], requests: int) -> tuple[float, float, int]:
    """p50 and p95 milliseconds of ``requests`` GETs (after 3 to warm up), and the queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(3):
        assert client.get(urls(n)).status_code == 200, urls(n)
    times = []
    for n in range(requests):
        url = urls(n)
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    with CaptureQueriesContext(connection) as queries:
        client.get(urls(0))
    times.sort()
    return (
        statistics.median(times),
        times[min(len(times) - 1, int(0.95 * len(times)))],
        len(queries),
    )


def cycle(urls: list[str]) -> Callable[[int], str]:
    """The n-th request's URL, going round ``urls``."""
    return lambda n: urls[n % len(urls)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=60, help="requests per page measured")
    parser.add_argument("--reuse", action="store_true", help="keep a database already built")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    reuse = args.reuse and database_exists(args.database_url)
    if not reuse:
        recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from leads.models import Agent, Contact, Lead

    call_command("migrate", verbosity=0)
    if reuse and Lead.objects.count() != args.leads:
        connection.close()
        recreate_database(args.database_url)
        call_command("migrate", verbosity=0)
        reuse = False
    if not reuse:
        started = time.perf_counter()
        agents = TEAMS * AGENTS_PER_TEAM
        print(f"Building {args.leads:,} leads, {args.contacts:,} contacts, {agents} agents:")
        build(args.leads, args.contacts)
        print(f"  built in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(f"PostgreSQL {version}, {os.cpu_count()} cores; {Lead.objects.count():,} leads")

    manager = (
        Agent.objects.filter(role=Agent.Role.MANAGER).order_by("pk").select_related("team").first()
    )
    assert manager is not None
    agent = Agent.objects.filter(team=manager.team, role=Agent.Role.AGENT).order_by("pk").first()
    assert agent is not None
    rng = random.Random(3)
    results = []
    for persona in (agent, manager):
        client = Client()
        client.force_login(persona.user)
        visible = Lead.objects.filter(team=manager.team)
        if persona is agent:
            visible = visible.filter(assigned_agent=agent)
        ids = list(visible.order_by("?").values_list("pk", flat=True)[:200])
        contact_ids = list(visible.order_by("?").values_list("contact_id", flat=True)[:200])
        people = list(Contact.objects.filter(pk__in=contact_ids).values_list("last_name", "phone"))
        rng.shuffle(people)
        pages: list[tuple[str, Callable[[int], str]]] = [
            ("inbox", lambda n: "/"),
            ("inbox, each inquiry", lambda n: "/?each=inquiry"),
            ("inbox, filtered", lambda n: f"/?status=open&source={SOURCES[n % 4][0]}"),
            ("inbox, page 3 refreshed", lambda n: "/?page=3"),
            ("lead page", cycle([f"/leads/{pk}/" for pk in ids])),
            ("search by name", cycle([f"/?q={name}" for name, _ in people])),
            ("search by phone", cycle([f"/?q={phone[-7:]}" for _, phone in people])),
            ("pool", lambda n: "/pool/"),
            ("today", lambda n: "/today/"),
            ("person page", cycle([f"/people/{pk}/" for pk in contact_ids])),
        ]
        if persona is manager:
            pages += [
                ("dashboard 7 days", lambda n: "/dashboard/?days=7"),
                ("dashboard 30 days", lambda n: "/dashboard/?days=30"),
                ("dashboard 90 days", lambda n: "/dashboard/?days=90"),
            ]
        role = "agent" if persona is agent else "manager"
        for label, urls in pages:
            p50, p95, queries = measure(client, urls, args.requests)
            results.append((role, label, p50, p95, queries))

    # The inbox's query alone: a row per inquiry against a row per person, in turn.
    from leads import selectors

    lists = []
    for persona in (agent, manager):
        filters = selectors.LeadFilters(scope="" if persona.is_manager else "mine")
        spent: dict[str, list[float]] = {"each inquiry": [], "one per person": []}
        for _ in range(args.requests):
            for label, select in (
                ("each inquiry", selectors.lead_list),
                ("one per person", selectors.people_list),
            ):
                started = time.perf_counter()
                list(select(user=persona.user, filters=filters)[:26])
                spent[label].append((time.perf_counter() - started) * 1000)
        role = "agent" if persona is agent else "manager"
        for label, times in spent.items():
            times.sort()
            p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
            lists.append((role, label, statistics.median(times), p95))

    seen = Lead.objects.filter(assigned_agent=agent).count()
    team = Lead.objects.filter(team=manager.team).count()
    print(f"\nAgent: {seen:,} leads of their own; manager: a team of {team:,} leads.")
    print("Server time through Django's test client (middleware, view, queries, template).")
    print(
        f"| {'who':<8} | {'page':<18} | {'p50 ms':>7} | {'p95 ms':>7} | {'queries':>7} | target |"
    )
    print(f"|{'-' * 10}|{'-' * 20}|{'-' * 9}|{'-' * 9}|{'-' * 9}|--------|")
    for role, label, p50, p95, queries in results:
        target = 500 if label.startswith("dashboard") else 100
        verdict = f"< {target}" if p95 < target else f"MISSED {target}"
        print(f"| {role:<8} | {label:<18} | {p50:>7.1f} | {p95:>7.1f} | {queries:>7} | {verdict} |")
    print("\nThe inbox's first page, its query alone (lead_list against people_list, in turn).")
    print(f"| {'who':<8} | {'rows':<18} | {'p50 ms':>7} | {'p95 ms':>7} |")
    print(f"|{'-' * 10}|{'-' * 20}|{'-' * 9}|{'-' * 9}|")
    for role, label, p50, p95 in lists:
        print(f"| {role:<8} | {label:<18} | {p50:>7.1f} | {p95:>7.1f} |")


if __name__ == "__main__":
    main()
