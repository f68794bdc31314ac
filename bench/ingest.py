"""Ingest benchmark: JSON web-form submissions through gunicorn and PostgreSQL to Lead rows.

Run ``make bench`` or ``.venv/bin/python bench/ingest.py --help``. For each broker asked for
(the ORM broker by default, Redis with ``--broker redis`` or ``both``) it:

1. drops and creates its own database (``leadline_bench``), migrates, and creates a team, an
   agent, a territory and a web form through the ORM;
2. starts gunicorn on 127.0.0.1 and a django-q2 cluster (``manage.py qcluster``);
3. takes the form's ``_ts`` token from one GET of the form page and warms up;
4. posts submissions at each fixed rate (open loop, latency from the scheduled send time)
   and then flat out (``--connections`` senders back to back), every loop ending by count
   and by time;
5. after each phase waits, bounded, for every accepted submission to become a ``Lead`` and
   prints accepted/s, reply latency, request-to-lead times and the CPU each party used.

It sends traffic only to 127.0.0.1 and stops what it started (gunicorn, the cluster) on
the way out, on Ctrl-C and on errors too. It is a benchmark, not a test: it prints its
figures and exits 0; a setup failure exits 1 with the reason. docs/performance.md says
how to read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cpu import Meter, Usage  # noqa: E402
from bench.loadgen import Run, fixed_rate, flat_out, percentile  # noqa: E402
from bench.servers import (  # noqa: E402
    HOST,
    Child,
    SetupError,
    gunicorn_argv,
    http_get,
    machine_line,
    port_in_use,
    wait_healthy,
    with_cpus,
)

FORM_KEY = "bench-form"
TERRITORY_ZIPS = ["33139", "33140"]
OTHER_ZIP = "33101"  # covered by no territory: the lead stays in the team's pool
DATABASE = "PostgreSQL"  # the party our database's backends count for


# --- Configuration ----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Leadline ingest benchmark (web form -> InboundEvent -> Lead).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--broker", choices=["orm", "redis", "both"], default="orm")
    parser.add_argument("--port", type=int, default=8200, help="gunicorn's port (8200-8299)")
    parser.add_argument("--database", default="leadline_bench", help="dropped and re-created")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/2")
    parser.add_argument(
        "--rate", type=float, action="append", help="fixed-rate phase(s), requests/s [500]"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of a fixed phase")
    parser.add_argument("--connections", type=int, default=32, help="flat-out senders")
    parser.add_argument("--flat-seconds", type=float, default=20.0)
    parser.add_argument("--flat-count", type=int, default=40_000, help="flat-out request cap")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--gunicorn-threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--q-workers", type=int, default=2, help="django-q2 worker processes")
    parser.add_argument(
        "--settings", default="crm.settings", help="settings module (to try a variant)"
    )
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="wait for leads")
    parser.add_argument("--server-cpus", help="taskset CPU list for gunicorn, e.g. 0,1")
    parser.add_argument("--worker-cpus", help="taskset CPU list for the qcluster")
    parser.add_argument("--client-cpus", help="CPU list for this load generator")
    parser.add_argument(
        "--no-worker-during-load",
        action="store_true",
        help="start the qcluster only after each phase's posts (measures ingest alone)",
    )
    args = parser.parse_args(argv)
    args.rate = args.rate or [500.0]
    if not args.database.startswith("leadline_bench"):
        parser.error("--database must start with leadline_bench: it is dropped first")
    if not 8200 <= args.port <= 8299:
        parser.error("--port must be within 8200-8299")
    return args


def server_env(args: argparse.Namespace, redis: bool) -> dict[str, str]:
    """The environment of gunicorn, the cluster and this process's own Django."""
    outbound_off = {  # never reach a real provider from a benchmark, whatever .env holds
        name: ""
        for name in (
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_FROM_NUMBER",
            "TWILIO_MESSAGING_SERVICE_SID",
            "MAILCHIMP_API_KEY",
            "FACEBOOK_APP_SECRET",
            "REALTOR_API_KEY",
            "ZILLOW_BASIC_AUTH",
        )
    }
    return {
        **os.environ,
        **outbound_off,
        "DJANGO_SETTINGS_MODULE": args.settings,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "SITE_URL": f"http://{HOST}:{args.port}",
        "SECURE_SSL_REDIRECT": "false",
        "WEBFORM_RATE_LIMIT": "1000000000",
        "WEBFORM_MIN_FILL_SECONDS": "0",
        "DATABASE_URL": f"{args.postgres.rstrip('/')}/{args.database}",
        "REDIS_URL": args.redis_url if redis else "",
        "Q_WORKERS": str(args.q_workers),
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


# --- Processes we start -----------------------------------------------------------------


def start_gunicorn(args: argparse.Namespace, env: dict[str, str], logs: Path) -> Child:
    argv = gunicorn_argv(
        "crm.wsgi:application",
        args.port,
        args.gunicorn_workers,
        args.gunicorn_threads,
        args.worker_class,
    )
    return Child("gunicorn", with_cpus(argv, args.server_cpus), env, logs / "gunicorn.log")


def start_qcluster(args: argparse.Namespace, env: dict[str, str], logs: Path) -> Child:
    argv = [sys.executable, str(ROOT / "manage.py"), "qcluster"]
    return Child("qcluster", with_cpus(argv, args.worker_cpus), env, logs / "qcluster.log")


def form_token(port: int) -> str:
    status, html = http_get(port, f"/forms/{FORM_KEY}/")
    match = re.search(r'name="_ts" value="([^"]+)"', html)
    if status != 200 or match is None:
        raise SetupError(f"GET /forms/{FORM_KEY}/ gave {status} without a _ts token")
    return match.group(1)


# --- Database ---------------------------------------------------------------------------


def reset_database(args: argparse.Namespace, redis: bool) -> None:
    """Drop and create the bench database, migrate it and create the form's team."""
    import psycopg
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    with psycopg.connect(f"{args.postgres.rstrip('/')}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    if redis:
        import redis as redis_client

        redis_client.Redis.from_url(args.redis_url).flushdb()  # our own database number
    call_command("migrate", verbosity=0, interactive=False)
    create_fixtures()


def create_fixtures() -> None:
    from django.contrib.auth import get_user_model

    from integrations.intake.models import WebForm
    from leads.models import Agent, Team, Territory

    team = Team.objects.create(name="Bench Realty")
    user = get_user_model().objects.create_user("bench-agent", "agent@example.com", None)
    agent = Agent.objects.create(
        user=user, team=team, display_name="Bench Agent", email="agent@example.com",
        mobile_phone="+13055550100", working_hours={},
    )  # fmt: skip
    territory = Territory.objects.create(team=team, name="Miami Beach", zip_codes=TERRITORY_ZIPS)
    territory.agents.add(agent)
    WebForm.objects.create(public_key=FORM_KEY, name="Bench form", team=team)


def phone_numbers() -> list[str]:
    """Fictional numbers only (555-0100 to 555-0199) in every valid US area code."""
    import phonenumbers

    area_codes = [
        code
        for code in range(201, 990)
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{code}5550100"))
    ]
    return [f"({code}) 555-01{n:02d}" for n in range(100) for code in area_codes]


def leads_for(prefix: str) -> int:
    from leads.models import Lead

    return Lead.objects.filter(source="webform", external_id__startswith=prefix).count()


def wait_for_leads(prefix: str, expected: int, timeout: float, qcluster: Child) -> int:
    deadline = time.monotonic() + timeout
    found = leads_for(prefix)
    while found < expected and time.monotonic() < deadline and qcluster.alive():
        time.sleep(0.25)
        found = leads_for(prefix)
    return found


def lead_times(prefix: str) -> dict[str, tuple[float, float]]:
    """``external_id -> (received_at, created_at)`` as Unix times for the phase's leads."""
    from leads.models import Lead

    rows = Lead.objects.filter(source="webform", external_id__startswith=prefix).values_list(
        "external_id", "received_at", "created_at"
    )
    return {ext: (rec.timestamp(), made.timestamp()) for ext, rec, made in rows.iterator()}


def own_backend_pids() -> list[int]:
    """The backend of this process's own connection, which counts leads while servers work."""
    from django.db import connection

    connection.ensure_connection()
    return [connection.connection.info.backend_pid]


def failed_events() -> int:
    from integrations.intake.models import InboundEvent

    return InboundEvent.objects.filter(status=InboundEvent.Status.FAILED).count()


# --- Phases -----------------------------------------------------------------------------


@dataclass
class Phase:
    broker: str
    name: str
    run: Run
    cpu: Usage  # CPU while posting
    drain_cpu: Usage | None = None  # ... while waiting for the leads
    accepted: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    leads: int = 0
    lead_wait: float = 0.0
    to_lead: list[float] = field(default_factory=list)  # scheduled send -> Lead.created_at
    event_to_lead: list[float] = field(default_factory=list)  # received_at -> created_at
    last_lead_after: float = float("nan")  # last Lead.created_at - last reply, seconds
    failed_events: int = 0
    drain_rate: float = float("nan")  # leads/s made after the last reply, if any were
    errors: list[str] = field(default_factory=list)


def make_body_factory(tag: str, token: str, phones: list[str]) -> Any:
    def make_body(index: int) -> bytes:
        fields = {
            "first_name": "Bench",
            "last_name": f"Lead {index}",
            "email": f"{tag}-{index}@example.com",
            "phone": phones[index % len(phones)],
            "zip_code": OTHER_ZIP if index % 4 == 3 else TERRITORY_ZIPS[index % 2],
            "message": "Looking for a two-bedroom condo near the beach.",
            "lead_type": "buyer",
            "consent": True,
            "utm_source": "bench",
            "submission_id": f"{tag}-{index:07d}",
            "_ts": token,
        }
        return json.dumps(fields).encode()

    return make_body


def measure(
    phase: Phase,
    prefix: str,
    drain_timeout: float,
    qcluster: Child,
) -> None:
    """Count the replies, wait for the leads, and work out the request-to-lead times."""
    run = phase.run
    accepted = [s for s in run.samples if s.status == 201]
    phase.accepted = len(accepted)
    phase.statuses = Counter(s.status for s in run.samples)
    phase.errors = sorted(
        {s.error or s.body.decode(errors="replace")[:200] for s in run.samples if s.status != 201}
    )[:5]
    started = time.monotonic()
    phase.leads = wait_for_leads(prefix, phase.accepted, drain_timeout, qcluster)
    phase.lead_wait = time.monotonic() - started
    times = lead_times(prefix)
    by_id = {f"{prefix}{s.index:07d}": s for s in accepted}
    last_reply = max((run.wall(s.done) for s in accepted), default=0.0)
    last_lead = 0.0
    drained = 0
    for external_id, (received, created) in times.items():
        sample = by_id.get(external_id)
        if sample is None:
            continue
        phase.to_lead.append(created - run.wall(sample.scheduled))
        phase.event_to_lead.append(created - received)
        last_lead = max(last_lead, created)
        drained += created > last_reply
    if phase.to_lead:
        phase.last_lead_after = last_lead - last_reply
    if drained > 1 and phase.last_lead_after > 0:
        phase.drain_rate = drained / phase.last_lead_after
    phase.failed_events = failed_events()


def run_phase(
    broker: str,
    name: str,
    tag: str,
    load: Any,
    args: argparse.Namespace,
    env: dict[str, str],
    logs: Path,
    children: dict[str, Child],
) -> Phase:
    sessions = {name: child.pid for name, child in children.items()}
    ours = own_backend_pids()
    with Meter(sessions, {args.database: DATABASE}, ignore_pids=ours) as meter:
        run: Run = asyncio.run(load)
        posting = meter.read()
        phase = Phase(broker, name, run, posting)
        if "qcluster" not in children:
            children["qcluster"] = start_qcluster(args, env, logs)
            meter.add("qcluster", children["qcluster"].pid)
        measure(phase, f"{FORM_KEY}:{tag}-", args.drain_timeout, children["qcluster"])
        phase.drain_cpu = meter.read().since(posting)
    if args.no_worker_during_load:
        children.pop("qcluster").stop()
    return phase


def bench_broker(
    broker: str, args: argparse.Namespace, phones: list[str], logs: Path
) -> list[Phase]:
    redis = broker == "redis"
    env = server_env(args, redis)
    reset_database(args, redis)
    children: dict[str, Child] = {}
    phases: list[Phase] = []
    try:
        children["gunicorn"] = start_gunicorn(args, env, logs)
        wait_healthy(args.port, children["gunicorn"])
        token = form_token(args.port)
        path = f"/forms/{FORM_KEY}/"
        common = {"host": HOST, "port": args.port, "path": path}
        if not args.no_worker_during_load:
            children["qcluster"] = start_qcluster(args, env, logs)

        warm_tag = f"{broker}-warmup"
        warm = fixed_rate(
            **common, make_body=make_body_factory(warm_tag, token, phones), rate=100, count=300
        )
        warmup = run_phase(broker, "warm-up", warm_tag, warm, args, env, logs, children)
        if warmup.accepted < 300 or warmup.leads < warmup.accepted:
            qlog = children["qcluster"].tail() if "qcluster" in children else ""
            raise SetupError(
                f"warm-up: {warmup.accepted}/300 accepted, {warmup.leads} leads; "
                f"statuses {dict(warmup.statuses)} {warmup.errors}\n{qlog}"
            )

        for rate in args.rate:
            tag = f"{broker}-fixed{rate:g}"
            load = fixed_rate(
                **common, make_body=make_body_factory(tag, token, phones), rate=rate,
                count=max(1, round(rate * args.seconds)),
            )  # fmt: skip
            name = f"fixed {rate:g}/s for {args.seconds:g} s"
            phases.append(run_phase(broker, name, tag, load, args, env, logs, children))
            print_phase(phases[-1], flush=True)

        tag = f"{broker}-flat"
        load = flat_out(
            **common, make_body=make_body_factory(tag, token, phones),
            connections=args.connections, count=args.flat_count, duration=args.flat_seconds,
        )  # fmt: skip
        name = f"flat out, {args.connections} connections"
        phases.append(run_phase(broker, name, tag, load, args, env, logs, children))
        print_phase(phases[-1], flush=True)
    finally:
        for child in reversed(list(children.values())):
            child.stop()
    return phases


# --- Report -----------------------------------------------------------------------------


def ms(value: float) -> str:
    return "-" if value != value else f"{value * 1000:.1f}"


def print_phase(phase: Phase, flush: bool = False) -> None:
    run = phase.run
    latencies = [s.latency for s in run.samples if s.status == 201]
    rate = phase.accepted / run.elapsed if run.elapsed else 0.0
    cpu = phase.cpu
    print(f"\n[{phase.broker}] {phase.name}")
    print(
        f"  sent {len(run.samples)} (unsent {run.unsent}) in {run.elapsed:.1f} s; "
        f"accepted {phase.accepted} = {rate:.0f}/s; statuses {dict(sorted(phase.statuses.items()))}"
    )
    print(
        f"  reply latency ms: p50 {ms(percentile(latencies, 0.5))}  "
        f"p95 {ms(percentile(latencies, 0.95))}  p99 {ms(percentile(latencies, 0.99))}  "
        f"max {ms(max(latencies, default=float('nan')))}"
    )
    print(
        f"  leads {phase.leads}/{phase.accepted} (waited {phase.lead_wait:.1f} s); "
        f"request->lead ms p50 {ms(percentile(phase.to_lead, 0.5))} "
        f"p95 {ms(percentile(phase.to_lead, 0.95))}; "
        f"received->lead ms p50 {ms(percentile(phase.event_to_lead, 0.5))} "
        f"p95 {ms(percentile(phase.event_to_lead, 0.95))}; "
        f"last lead {phase.last_lead_after:.2f} s after the last reply "
        f"(backlog drained at {phase.drain_rate:.0f} leads/s); "
        f"failed events so far {phase.failed_events}"
    )
    print(f"  CPU cores busy while posting ({cpu.wall:.1f} s): {cpu.cores_line()}")
    drain = phase.drain_cpu
    if drain is not None and drain.wall > 0.5:
        print(f"  ... while waiting for the leads ({drain.wall:.1f} s): {drain.cores_line()}")
    worker = cpu.of("qcluster") + (drain.of("qcluster") if drain else 0.0)
    server = cpu.of("gunicorn")
    database = cpu.of(DATABASE) + (drain.of(DATABASE) if drain else 0.0)
    if phase.accepted and phase.leads:
        print(
            f"  CPU ms: gunicorn {1000 * server / phase.accepted:.2f} per request, "
            f"qcluster {1000 * worker / phase.leads:.2f} per lead, "
            f"PostgreSQL {1000 * database / phase.leads:.2f} per request+lead"
        )
    if phase.errors:
        print("  error replies: " + " | ".join(phase.errors))
    if flush:
        sys.stdout.flush()


def print_summary(phases: list[Phase], args: argparse.Namespace) -> None:
    print("\n| broker | phase | accepted/s | p50 ms | p95 ms | p99 ms | errors "
          "| request→lead p50 / p95 ms | received→lead p50 / p95 ms |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for phase in phases:
        latencies = [s.latency for s in phase.run.samples if s.status == 201]
        rate = phase.accepted / phase.run.elapsed if phase.run.elapsed else 0.0
        errors = len(phase.run.samples) - phase.accepted + phase.run.unsent
        print(
            f"| {phase.broker} | {phase.name} | {rate:.0f} | {ms(percentile(latencies, 0.5))} "
            f"| {ms(percentile(latencies, 0.95))} | {ms(percentile(latencies, 0.99))} "
            f"| {errors} | {ms(percentile(phase.to_lead, 0.5))} / "
            f"{ms(percentile(phase.to_lead, 0.95))} | {ms(percentile(phase.event_to_lead, 0.5))}"
            f" / {ms(percentile(phase.event_to_lead, 0.95))} |"
        )
    print(
        f"\ngunicorn: {args.gunicorn_workers} x {args.worker_class} worker(s), "
        f"{args.gunicorn_threads} thread(s); qcluster: {args.q_workers} worker(s); "
        f"CPUs: server {args.server_cpus or 'any'}, worker {args.worker_cpus or 'any'}, "
        f"load generator {args.client_cpus or 'any'}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client_cpus:
        os.sched_setaffinity(0, {int(c) for c in args.client_cpus.split(",")})
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop gunicorn and the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if port_in_use(args.port):
        print(f"port {args.port} is already in use on {HOST}", file=sys.stderr)
        return 1
    os.environ.update(server_env(args, redis=False))
    import django
    import psycopg

    django.setup()
    with psycopg.connect(f"{args.postgres.rstrip('/')}/postgres") as admin:
        pg_version = admin.info.parameter_status("server_version") or "?"
    print(f"Leadline ingest benchmark: {machine_line()}, PostgreSQL {pg_version}")
    phones = phone_numbers()
    brokers = ["orm", "redis"] if args.broker == "both" else [args.broker]
    phases: list[Phase] = []
    logs = Path(tempfile.mkdtemp(prefix="leadline-bench-"))
    try:
        for broker in brokers:
            phases += bench_broker(broker, args, phones, logs)
    except SetupError as exc:
        print(f"benchmark could not run: {exc}\nlogs: {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted; gunicorn and the cluster are stopped; logs: {logs}", file=sys.stderr)
        return 130
    print_summary(phases, args)
    print(f"server and worker logs: {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
