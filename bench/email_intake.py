"""Lead emails: how fast messages are parsed, and how long ``email_ingest`` takes to a lead.

Run ``.venv/bin/python bench/email_intake.py`` (``--rounds``, ``--leads``). It builds its
own SQLite database in a temporary folder (as ``make run`` does: the ORM broker), migrates
it, loads the demo team (``manage.py demo``), and then:

1. **parsed/s**: every message in ``tests/fixtures/email/`` is stored once as an event, and
   the ``email`` source's ``parse`` (recipient, parser, trust; no DNS: no message is
   DKIM-signed) runs over all of them ``--rounds`` times in this process: messages per
   second, and the same for the whole ``event_process`` (parse, capture, routing) on fresh
   copies;
2. **email_ingest -> lead**: starts a django-q2 cluster (``manage.py qcluster``), then pipes
   ``--leads`` copies of ``docs/samples/lead-metadata.eml`` (each its own Message-ID) into
   ``manage.py email_ingest``, one after another, and for each measures from starting the
   command to the lead's row being visible, routed; prints p50/p95 of that, and of the
   stored event -> lead part (the worker's share, without the command's start-up).

Only 127.0.0.1 is contacted. It exits 0 with its figures, 1 with the reason when it could
not set up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.loadgen import percentile  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "email"
SAMPLE = ROOT / "docs" / "samples" / "lead-metadata.eml"


def environment(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env.update(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{db}",
        EMAIL_INTAKE_DOMAIN="leads.localhost",
        EMAIL_URL="dummymail://",
        TWILIO_ACCOUNT_SID="",
        TWILIO_AUTH_TOKEN="",
        EMAIL_INTAKE_IMAP_URL="",
        DJANGO_SETTINGS_MODULE="crm.settings",
    )
    return env


def parse_rate(rounds: int) -> tuple[float, float, int]:
    """(messages parsed per second, events processed per second, messages) in this process."""
    import django

    django.setup()
    from integrations.intake.models import InboundEvent
    from integrations.intake.services import event_process
    from integrations.intake.sources import get_source
    from integrations.intake.sources.email.source import email_store

    # Every fixture, addressed to the demo team.
    raws = [
        p.read_bytes()
        .replace(b"@leads.example.com", b"@leads.localhost")
        .replace(b"miami", b"sunrise-realty")
        for p in sorted(FIXTURES.glob("*.eml"))
    ]
    events = [email_store(raw=raw, door="pipe").event for raw in raws]
    source = get_source("email")
    source.parse(events[0])  # imports, caches
    started = time.perf_counter()
    parsed = 0
    for _ in range(rounds):
        for event in events:
            with contextlib.suppress(Exception):  # ignored and failed messages count too
                source.parse(event)
            parsed += 1
    parse_per_s = parsed / (time.perf_counter() - started)
    # Parsed only, never processed: keep the sweeper from making leads of them meanwhile.
    InboundEvent.objects.filter(pk__in=[e.pk for e in events]).update(status="ignored")

    # The whole worker step, on fresh events (each its own Message-ID).
    fresh = []
    for n in range(max(1, rounds // 5)):
        for i, raw in enumerate(raws):
            copy = raw.replace(b"Message-ID: <", f"Message-ID: <bench{n}-{i}.".encode(), 1)
            if b"Message-ID" not in raw:
                copy = f"X-Bench: {n}\r\n".encode() + raw
            fresh.append(email_store(raw=copy, door="pipe").event.pk)
    InboundEvent.objects.filter(pk__in=fresh).update(status="received")
    started = time.perf_counter()
    for pk in fresh:
        event_process(event_id=pk)
    process_per_s = len(fresh) / (time.perf_counter() - started)
    # The doorbells these events rang are answered already: empty the queue for part 2.
    from django_q.brokers import get_broker

    get_broker().purge_queue()
    return parse_per_s, process_per_s, len(events)


def ingest_latency(
    db: Path, env: dict[str, str], leads: int, logs: Path
) -> tuple[list[float], list[float]]:
    """(command start -> lead, stored -> lead) in seconds, one per lead."""
    with open(logs / "qcluster.log", "wb") as log:
        cluster = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        time.sleep(4)  # the cluster's workers start
        sample = SAMPLE.read_bytes()
        total, worker = [], []
        for n in range(leads):
            message_id = f"bench-{n}-{time.time_ns()}@idx.example.net"
            raw = sample.replace(b"sample-lead-0001@idx.example.net", message_id.encode())
            started = time.time()
            done = subprocess.run(
                [sys.executable, str(ROOT / "manage.py"), "email_ingest"],
                input=raw, cwd=ROOT, env=env, capture_output=True, timeout=60,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"email_ingest exited {done.returncode}: {done.stderr[-300:]!r}")
            with sqlite3.connect(db, timeout=30) as conn:
                while True:
                    row = conn.execute(
                        "SELECT e.received_at, l.created_at FROM integrations_inboundevent e"
                        " JOIN leads_lead l ON l.id = e.lead_id"
                        " WHERE e.source = 'email' AND e.external_id = ?"
                        " AND l.assigned_agent_id IS NOT NULL",
                        (f"mid:{message_id}",),
                    ).fetchone()
                    if row:
                        break
                    if time.time() - started > 60:
                        raise RuntimeError("no routed lead 60 s after email_ingest")
                    time.sleep(0.005)
            total.append(time.time() - started)
            received, created = (_moment(v) for v in row)
            worker.append(created - received)
        return total, worker
    finally:
        # The cluster's own process only: a signal to its whole group would also reach
        # django-q's sentinel and hang its shutdown (see the Makefile's run target).
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=10)


def _moment(value: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="parse rounds over the fixtures")
    parser.add_argument("--leads", type=int, default=20, help="email_ingest runs")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="leadline-bench-email-"))
    db = folder / "bench.sqlite3"
    env = environment(db)
    os.environ.update(env)
    for command in (["migrate", "--no-input", "-v0"], ["demo"]):
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *command],
            cwd=ROOT, env=env, capture_output=True,
        )  # fmt: skip
        if done.returncode != 0:
            print(f"set-up failed: {command[0]}: {done.stderr[-500:]!r}", file=sys.stderr)
            return 1
    parse_per_s, process_per_s, messages = parse_rate(args.rounds)
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print(
        f"parse: {parse_per_s:,.0f} messages/s ({messages} fixtures x {args.rounds} rounds,"
        f" recipient + parser + trust)"
    )
    print(f"worker step (parse, capture, route): {process_per_s:,.0f} events/s")
    from django.db import connections

    connections.close_all()
    total, worker = ingest_latency(db, env, args.leads, folder)
    print(
        f"email_ingest -> lead ({args.leads} leads): p50 {percentile(total, 0.5) * 1000:,.0f} ms,"
        f" p95 {percentile(total, 0.95) * 1000:,.0f} ms"
    )
    print(
        f"  of which stored -> lead (the worker): p50 {percentile(worker, 0.5) * 1000:,.0f} ms,"
        f" p95 {percentile(worker, 0.95) * 1000:,.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
