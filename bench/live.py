"""Live screens benchmark: what an idle agent's open inbox costs the server.

An open inbox, pool or lead page asks every ``LIVE_POLL_SECONDS`` (5) whether anything
changed (``leads/live.py``); while nothing has, the answer is a 304 from two cache reads.
This builds a PostgreSQL database of its own (``leadline_bench_live``: 10 teams of 20
agents, 100 leads each), signs every agent in (one test client each, the whole middleware
and view stack in this process, no network, no WSGI server) and asks each one's inbox in
turn with its ETag, as ``app.js`` does. It counts the CPU of this process and of its
PostgreSQL backend (``bench/cpu.py``) per answer, for the 304 and for a full re-render
(what a change costs every open inbox of the team), once with the stamps in the database's
cache table (no Redis) and once in Redis (``--redis-url``), and turns them into what N idle
agents cost.

    .venv/bin/python bench/live.py [--requests 3000] [--redis-url redis://127.0.0.1:6379/9]

Not a test: it prints its figures and exits 0. It talks only to the local PostgreSQL (and
Redis when given).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadline_bench_live"
TEAMS, AGENTS_PER_TEAM, LEADS_PER_AGENT = 10, 20, 100
POLL = {"HX-Request": "true", "HX-Target": "lead-list"}


def setup_django(database_url: str, redis_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "Q_CLUSTER_NAME": "leadline-bench-live",
        }
    )
    os.environ.pop("REDIS_URL", None)
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


def build() -> None:
    import io

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from leads.models import Agent, Contact, Lead, Team

    call_command("migrate", verbosity=0, stdout=io.StringIO())
    now = timezone.now()
    user_model = get_user_model()
    n = 0
    for t in range(TEAMS):
        team = Team.objects.create(name=f"Team {t}")
        for a in range(AGENTS_PER_TEAM):
            name = f"agent{t}x{a}"
            user = user_model.objects.create_user(name, f"{name}@example.com", "x" * 16)
            role = Agent.Role.MANAGER if a == 0 else Agent.Role.AGENT
            agent = Agent.objects.create(
                user=user, team=team, role=role, display_name=name.title(),
                email=f"{name}@example.com", working_hours={},
            )  # fmt: skip
            contacts = Contact.objects.bulk_create(
                [
                    Contact(first_name="Jordan", last_name=f"P{n + i}", email=f"p{n + i}@x.test")
                    for i in range(LEADS_PER_AGENT)
                ]
            )
            Lead.objects.bulk_create(
                [
                    Lead(
                        contact=contact,
                        team=team,
                        assigned_agent=agent,
                        source="webform",
                        external_id=f"b{n + i}",
                        received_at=now,
                        assigned_at=now,
                        status=Lead.Status.CONTACTED,
                    )
                    for i, contact in enumerate(contacts)
                ]
            )
            n += LEADS_PER_AGENT


def run(database_url: str, redis_url: str, requests: int) -> dict[str, Any]:
    """In a process of its own (one settings per process): the figures of one cache."""
    from bench import ui

    ui.recreate_database(database_url)
    setup_django(database_url, redis_url)
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.cpu import BackendSampler
    from leads import live
    from leads.models import Agent

    build()
    if redis_url:  # a stamp left from an earlier run would be read as current
        from django.core.cache import caches

        caches[live.CACHE_ALIAS].clear()
    clients: list[tuple[Client, str]] = []
    for agent in Agent.objects.select_related("user").order_by("pk"):
        client = Client()
        client.force_login(agent.user)
        response = client.get("/", headers=POLL)
        assert response.status_code == 200
        clients.append((client, response["ETag"]))
    database = database_url.rsplit("/", 1)[1]

    def ask(count: int, conditional: bool) -> dict[str, float]:
        sampler = BackendSampler({database: "postgres"})
        times, cpu = [], time.process_time()
        for n in range(count):
            client, tag = clients[n % len(clients)]
            headers = {**POLL, "If-None-Match": tag} if conditional else POLL
            started = time.perf_counter()
            response = client.get("/", headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == (304 if conditional else 200), response.status_code
        app = time.process_time() - cpu
        backends, _ = sampler.used()
        sampler.stop()
        times.sort()
        return {
            "p50_ms": statistics.median(times),
            "p95_ms": times[int(0.95 * (len(times) - 1))],
            "app_cpu_ms": 1000 * app / count,
            "db_cpu_ms": 1000 * backends.get("postgres", 0.0) / count,
        }

    ask(200, True)  # warm up
    with CaptureQueriesContext(connection) as queries:
        clients[1][0].get("/", headers={**POLL, "If-None-Match": clients[1][1]})
    return {
        "cache": "Redis" if redis_url else "database table",
        "queries_304": len(queries),
        "304": ask(requests, True),
        "200": ask(max(requests // 10, 100), False),
        "poll_seconds": settings.LIVE_POLL_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--one", choices=["db", "redis"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        redis = args.redis_url if args.one == "redis" else ""
        print(json.dumps(run(args.database_url, redis, args.requests)))
        return
    results = []
    for mode in ("db", "redis") if args.redis_url else ("db",):
        out = subprocess.run(
            [sys.executable, __file__, "--one", mode, "--requests", str(args.requests),
             "--database-url", args.database_url, "--redis-url", args.redis_url],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        results.append(json.loads(out.strip().splitlines()[-1]))
    agents = TEAMS * AGENTS_PER_TEAM
    print(f"Idle agents' live polling ({agents} agents signed in, {args.requests} conditional")
    print("GETs of the inbox, Django test client, one process)")
    print()
    print("| stamps in | answer | p50 ms | p95 ms | app CPU ms | PostgreSQL CPU ms | queries |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        for answer in ("304", "200"):
            f = r[answer]
            queries = r["queries_304"] if answer == "304" else ""
            print(f"| {r['cache']} | {answer} | {f['p50_ms']:.2f} | {f['p95_ms']:.2f} | "
                  f"{f['app_cpu_ms']:.2f} | {f['db_cpu_ms']:.2f} | {queries} |")  # fmt: skip
    print()
    poll = results[0]["poll_seconds"]
    print(f"Every {poll} s per open screen: N idle agents ask N/{poll} times a second.")
    print("| idle agents | requests/s | CPU (app + PostgreSQL), cores: " + " | ".join(
        r["cache"] for r in results) + " |")  # fmt: skip
    print("|---|---|" + "---|" * len(results))
    for agents in (50, 500, 5000):
        rate = agents / poll
        cores = [rate * (r["304"]["app_cpu_ms"] + r["304"]["db_cpu_ms"]) / 1000 for r in results]
        print(f"| {agents} | {rate:.0f} | " + " | ".join(f"{c:.3f}" for c in cores) + " |")


if __name__ == "__main__":
    main()
