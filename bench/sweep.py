"""Recovery sweep benchmark: a backlog of events no claimer took, the broker emptied.

Builds a PostgreSQL database of its own with ``--lost`` inbound events left ``received`` 30
minutes ago (every worker's claimer stopped meanwhile; the broker emptied, which holds nothing
of an event anyway) and ``--held`` more claimed by a live claimer (their lease running), then
runs the sweeper (``events_sweep``, as the schedule does every minute) until it finds nothing.
Prints, per sweep, how many events it processed and in how long; and what is left received at
the end (the held ones, left to their claimer). The bodies cannot be parsed, so each event
ends ``failed`` at its first step: the figures are the sweep's own pace (claim, lock, attempt
bookkeeping), not a lead's capture.

    .venv/bin/python bench/sweep.py [--lost 5000] [--held 200] [--broker orm|redis]

Not a test: it prints its figures and exits 0. It only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inprocess import django_on_own_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadline_bench_sweep"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lost", type=int, default=5_000)
    parser.add_argument("--held", type=int, default=200)
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args(argv)
    django_on_own_database(parser, args, "sweep")
    from django.utils import timezone
    from django_q.brokers import get_broker

    from integrations.intake.models import InboundEvent
    from integrations.intake.services import events_claim, events_sweep

    broker = get_broker()
    broker.purge_queue()
    lost = (
        InboundEvent(source="webform", body=b"{}", external_id=f"lost-{n}")
        for n in range(args.lost + args.held)
    )
    InboundEvent.objects.bulk_create(lost, batch_size=5000)
    InboundEvent.objects.update(received_at=timezone.now() - dt.timedelta(minutes=30))
    held = len(events_claim(limit=args.held)) if args.held else 0

    print(
        f"backlog: {args.lost:,} events no claimer took, {held:,} held by a live claimer "
        f"({args.broker} broker, emptied)"
    )
    sweep = 0
    while True:
        sweep += 1
        started = time.monotonic()
        processed = events_sweep()
        took = time.monotonic() - started
        rate = processed / took if took else 0.0
        print(f"sweep {sweep}: processed {processed:,} in {took:.1f} s ({rate:.0f}/s)")
        if not processed:
            break
    waiting = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count()
    print(f"left received: {waiting:,} (held by their claimer's lease); tasks in the broker: "
          f"{broker.queue_size():,}")  # fmt: skip
    broker.purge_queue()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
