"""What the queue costs per inbound event: a django-q2 task per event (the path before) against
claiming the event from its row (the path now), in one process, CPU time only.

    .venv/bin/python bench/claims.py [--events 300] [--rounds 3] [--broker orm|redis]

On a PostgreSQL database of its own, alternating rounds of ``--events`` web-form submissions
(pooled leads: no agent, so no alert tasks) each way:

- **task per event**: the door stores the event and, in the same transaction, django-q2's task
  (``async_task``: pickled, signed, with the ORM broker an INSERT; with Redis a push after the
  commit), as ``event_store`` did; the worker takes each task from the broker, runs
  ``process_event`` and acknowledges it, as django-q2's pusher, worker and monitor do (their
  hand-offs between processes are left out, so this is the least that path costs);
- **claimed**: the door's one INSERT (the NOTIFY trigger's cost is in PostgreSQL's figure);
  the worker claims due events in batches (``EVENT_CLAIM_BATCH``) and runs ``event_process``.

For each part (door, worker) it prints the CPU milliseconds per event of this process
(``time.process_time``) and of its PostgreSQL backend (read from /proc), medians over the
rounds. CPU time counts work, not waiting, so it holds on a busy machine better than rates do.
Not a test: it prints its figures and exits 0. It only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inprocess import django_on_own_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadline_bench_claims"
PROCESS_TASK = "integrations.intake.tasks.process_event"


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of PostgreSQL backend ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="events per round and way")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="flushed")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args(argv)
    django_on_own_database(
        parser, args, "claims",
        EMAIL_URL="dummymail://",
        LEAD_GREETING_ENABLED="false",
        # One connection for the whole run, so that its backend's CPU can be read.
        CONN_MAX_AGE="86400",
    )  # fmt: skip
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone
    from django.utils.module_loading import import_string
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage
    from django_q.tasks import async_task

    from integrations.intake.models import InboundEvent, WebForm
    from integrations.intake.services import event_process, event_store, events_claim
    from leads.models import Team

    if args.broker == "redis":
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()  # our own database number
    broker = get_broker()
    team = Team.objects.create(name="Bench")
    form = WebForm.objects.create(public_key="bench-claims", name="Bench", team=team)
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    def fields(tag: str, n: int) -> dict[str, object]:
        body = {"first_name": "Jordan", "email": f"{tag}-{n}@example.com", "zip_code": "99501"}
        return {
            "source": "webform",
            "body": json.dumps({**body, "consent": True}).encode(),
            "content_type": "application/json",
            "external_id": f"{form.public_key}:{tag}-{n}",
            "meta": {"form_id": form.pk, "received_at": timezone.now().isoformat()},
        }

    def door_with_task(tag: str) -> None:
        # As event_store was: the INSERT and the task's in one transaction, no savepoint.
        for n in range(args.events):
            with transaction.atomic():
                event = InboundEvent.objects.create(**fields(tag, n))
                async_task(PROCESS_TASK, event.pk, task_name=f"event-{event.pk}")

    def worker_with_tasks() -> None:
        while batch := broker.dequeue():
            for ack_id, payload in batch:
                task = SignedPackage.loads(payload)
                import_string(task["func"])(*task["args"], **task["kwargs"])
                broker.acknowledge(ack_id)

    def door_alone(tag: str) -> None:
        for n in range(args.events):
            event_store(**fields(tag, n))  # type: ignore[arg-type]

    def worker_claiming() -> None:
        while ids := events_claim(limit=settings.EVENT_CLAIM_BATCH):
            for event_id in ids:
                event_process(event_id=event_id)

    def measure(work: Callable[[], None]) -> tuple[float, float]:
        """CPU ms per event of this process and of its backend while ``work`` runs."""
        ours, theirs = time.process_time(), backend_cpu(backend)
        work()
        return (
            1000 * (time.process_time() - ours) / args.events,
            1000 * (backend_cpu(backend) - theirs) / args.events,
        )

    # Warm up both ways first (imports, the ZIP index, Django's first run of each query).
    door_with_task("warm-task")
    worker_with_tasks()
    door_alone("warm-claim")
    worker_claiming()
    results: dict[str, list[tuple[float, float]]] = {}
    for round_ in range(1, args.rounds + 1):
        ways = [("task per event", door_with_task, worker_with_tasks)]
        ways.append(("claimed", door_alone, worker_claiming))
        if round_ % 2 == 0:
            ways.reverse()
        for name, door, worker in ways:
            tag = f"r{round_}-{name.split()[0]}"
            results.setdefault(f"{name}: door", []).append(measure(partial(door, tag)))
            results.setdefault(f"{name}: worker", []).append(measure(worker))
            print(
                f"round {round_}, {name}: door {results[f'{name}: door'][-1][0]:.2f} + "
                f"{results[f'{name}: door'][-1][1]:.2f} ms, worker "
                f"{results[f'{name}: worker'][-1][0]:.2f} + "
                f"{results[f'{name}: worker'][-1][1]:.2f} ms per event",
                flush=True,
            )

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\n{args.events} web-form events per round and way, {args.rounds} alternating rounds, "
        f"{args.broker.upper()} broker, load average {load}; CPU ms per event, medians:\n"
    )
    print("| part | Python (this process) | PostgreSQL (its backend) | together |")
    print("|---|---:|---:|---:|")
    for key, values in results.items():
        python = statistics.median(v[0] for v in values)
        database = statistics.median(v[1] for v in values)
        print(f"| {key} | {python:.2f} | {database:.2f} | {python + database:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
