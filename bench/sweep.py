"""Recovery sweep benchmark: a backlog of events whose tasks were lost, and some still queued.

Builds a PostgreSQL database of its own with ``--lost`` inbound events left ``received`` 30
minutes ago with no task anywhere (a long broker outage) and ``--queued`` more whose tasks
wait in the broker, then runs the sweeper (``events_sweep``, as the schedule does every
minute) until it rings for nothing. Prints, per sweep, how many events it rang for, how many
it skipped because their task was waiting, and the time it took; and the tasks in the broker
at the end (each event's once).

    .venv/bin/python bench/sweep.py [--lost 20000] [--queued 2000] [--broker orm|redis]

Not a test: it prints its figures and exits 0. It only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.routing import recreate_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadline_bench_sweep"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lost", type=int, default=20_000)
    parser.add_argument("--queued", type=int, default=2_000)
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args(argv)
    if not args.database_url.rsplit("/", 1)[1].startswith("leadline_bench"):
        parser.error("the database name must start with leadline_bench: it is dropped first")
    recreate_database(args.database_url)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": args.database_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "localhost",
            "LOG_LEVEL": "WARNING",
            "Q_CLUSTER_NAME": f"leadline-bench-sweep-{os.getpid()}",
        }
    )
    if args.broker == "redis":
        os.environ["REDIS_URL"] = args.redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    logging.getLogger("django-q").setLevel(logging.WARNING)
    from django.core.management import call_command
    from django.utils import timezone
    from django_q.brokers import get_broker

    from integrations.intake.models import InboundEvent
    from integrations.intake.services import event_store, events_sweep

    call_command("migrate", verbosity=0)
    broker = get_broker()
    broker.purge_queue()
    lost = (
        InboundEvent(source="webform", body=b"{}", external_id=f"lost-{n}")
        for n in range(args.lost)
    )
    InboundEvent.objects.bulk_create(lost, batch_size=5000)
    for n in range(args.queued):
        event_store(source="webform", body=b"{}", external_id=f"queued-{n}")
    InboundEvent.objects.update(received_at=timezone.now() - dt.timedelta(minutes=30))

    print(f"backlog: {args.lost:,} events with no task, {args.queued:,} with a task queued "
          f"({args.broker} broker)")  # fmt: skip
    sweep = 0
    while True:
        sweep += 1
        waiting_before = broker.queue_size()
        started = time.monotonic()
        rung = events_sweep()
        took = time.monotonic() - started
        print(f"sweep {sweep}: rang for {rung:,} in {took:.1f} s "
              f"(queue {waiting_before:,} -> {broker.queue_size():,} tasks)")  # fmt: skip
        if not rung:
            break
    print(
        f"tasks in the broker: {broker.queue_size():,} for {InboundEvent.objects.count():,} events"
    )
    broker.purge_queue()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
