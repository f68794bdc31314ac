"""The scaling shape of Leadline's ingest: what more processes buy on this machine.

    .venv/bin/python bench/scaling.py                          # both parts, the defaults
    .venv/bin/python bench/scaling.py --web 2,4,8 --drain 0    # the web tier only
    .venv/bin/python bench/scaling.py --web '' --drain 5000 --q-workers 1,2,4

**Web tier** (``--web``): Leadline's web form (JSON) under gunicorn with each number of sync
workers in turn, no task worker running, flat out (``--connections`` senders for
``--seconds``), in alternating rounds (medians of ``--rounds``): accepted/s, reply p50/p99
and CPU per request (gunicorn's whole process tree plus the database's backends).

**Worker** (``--drain``): on a fresh copy of the database, a backlog of that many web-form
events is posted with no worker running, then a ``qcluster`` with the number of worker
processes of the try is started and timed until every event is a lead: leads/s from the
cluster's start (its start-up included) and from the first lead to the last, CPU per lead
(the cluster's whole process tree, workers django-q2 recycled every 500 tasks included, plus
the database's backends), and how many events the sweeper took because they waited past
``EVENT_SWEEP_AFTER_SECONDS`` (the workers' claimers take the rest from the rows).

It runs on a PostgreSQL database of its own (dropped first), sends traffic only to
127.0.0.1, stops what it started on the way out, prints its figures and exits 0; a setup
failure exits 1 with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.compare import (  # noqa: E402
    DATABASE,
    Result,
    ceiling,
    measure,
    median,
    ms,
    num,
    spread,
)
from bench.cpu import Meter, Usage  # noqa: E402
from bench.servers import HOST, SetupError, machine_line, port_in_use  # noqa: E402
from bench.targets import Leadline, leadline_on_fresh_database, recreate_database  # noqa: E402

SWEEP_LINE = re.compile(r"sweeper processed (\d+) stale inbound event")


def counts(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Leadline's ingest by gunicorn workers and by task worker processes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--web", type=counts, default=[2, 4, 8], help="gunicorn workers to try")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (web tier)")
    parser.add_argument("--seconds", type=float, default=10.0, help="flat-out load per try")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load after a start")
    parser.add_argument("--drain", type=int, default=5000, help="backlog of events; 0: none")
    parser.add_argument("--q-workers", type=counts, default=[1, 2, 4], help="worker processes")
    parser.add_argument("--drain-rounds", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=900.0, help="per backlog")
    parser.add_argument("--post-workers", type=int, default=4, help="gunicorn while posting")
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/3", help="flushed first (--broker redis)"
    )
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="leadline_bench_scale", help="dropped first")
    parser.add_argument("--port", type=int, default=8220)
    args = parser.parse_args(argv)
    if not args.database.startswith("leadline_bench"):
        parser.error("--database must start with leadline_bench: it is dropped first")
    if args.rounds < 1 or args.drain < 0:
        parser.error("--rounds must be positive and --drain not negative")
    return args


# --- Web tier ---------------------------------------------------------------------------


def web_tier(leadline: Leadline, args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    for round_ in range(1, args.rounds + 1):
        shift = (round_ - 1) % len(args.web)
        for workers in args.web[shift:] + args.web[:shift]:
            leadline.start_web(workers=workers)
            try:
                key = f"{workers} gunicorn workers"
                warm_tag = f"r{round_}-warm-w{workers}"
                asyncio.run(leadline.flat_out(warm_tag, connections=8, seconds=args.warmup))
                tag = f"r{round_}-web-w{workers}"
                load = leadline.flat_out(tag, connections=args.connections, seconds=args.seconds)
                result = measure(key, leadline, "flat", round_, tag, load, 0.0)
            finally:
                leadline.stop_web()
            results.append(result)
            print(
                f"  round {round_}, {key}: {result.rate:.1f} accepted/s, p50 "
                f"{ms(result.latency(0.5))} p99 {ms(result.latency(0.99))} ms, CPU/request "
                f"gunicorn {num(result.server_ms, 2)} + PostgreSQL {num(result.database_ms, 2)} "
                f"ms; stored {result.stored}/{result.accepted}\n"
                f"    cores: {result.posting.cores_line()}",
                flush=True,
            )
    return results


def print_web(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\nWeb tier, flat out ({args.connections} connections, {args.seconds:g} s, worker "
        f"stopped), medians of {args.rounds} alternating round(s):\n"
    )
    print(
        "| gunicorn sync workers | accepted/s | reply p50 ms | reply p99 ms "
        "| CPU ms per request: gunicorn + PostgreSQL | CPU-bound ceiling /s "
        "| others' load (cores) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for workers in args.web:
        mine = [r for r in results if r.target == f"{workers} gunicorn workers"]
        server, database = median(r.server_ms for r in mine), median(r.database_ms for r in mine)
        rates = [r.rate for r in mine]
        print(
            f"| {workers} | {spread(rates, 0)} | {ms(median(r.latency(0.5) for r in mine))} "
            f"| {ms(median(r.latency(0.99) for r in mine))} "
            f"| {num(server, 2)} + {num(database, 2)} | {num(ceiling(server + database), 0)} "
            f"| {num(median(r.others for r in mine), 2)} |"
        )


# --- Worker: draining a backlog -----------------------------------------------------------


@dataclass
class Drain:
    workers: int
    round: int
    posted: int
    leads: int
    started: float  # Unix time the cluster was started
    first: float  # Unix time of the first and last leads
    last: float
    usage: Usage
    swept: int  # events the sweeper took

    @property
    def rate_from_start(self) -> float:
        return self.leads / (self.last - self.started) if self.last > self.started else 0.0

    @property
    def rate_steady(self) -> float:
        span = self.last - self.first
        return (self.leads - 1) / span if span > 0 else float("nan")

    def cpu_ms(self, party: str) -> float:
        return 1000 * self.usage.of(party) / self.leads if self.leads else float("nan")

    @property
    def others(self) -> float:
        return max(0.0, self.usage.machine - sum(self.usage.seconds.values())) / self.usage.wall


def drain(leadline: Leadline, workers: int, round_: int, args: argparse.Namespace) -> Drain:
    """Post the backlog with no worker running, then time a cluster of ``workers`` through
    it, counting the cluster's CPU (recycled workers included) and the database's."""
    tag = f"r{round_}-drain-q{workers}"
    leadline.reset(template=f"{args.database}_template")
    leadline.start_web(workers=args.post_workers)
    try:
        load = leadline.flat_out(
            tag, connections=args.connections, seconds=args.drain_timeout, count=args.drain
        )
        run = asyncio.run(load)
    finally:
        leadline.stop_web()
    posted = leadline.stored(tag)
    print(
        f"  round {round_}: {posted} events posted in {run.elapsed:.1f} s "
        f"({posted / (run.elapsed or 1):.0f}/s) with no worker running",
        flush=True,
    )
    log = leadline.logs / f"{leadline.name}-qcluster.log"
    swept_before = sum(int(n) for n in SWEEP_LINE.findall(_read(log)))
    meter = Meter({}, {leadline.database: DATABASE}, ignore_pids=leadline.own_backends())
    with meter:
        started = time.time()
        cluster = leadline.start_worker(workers)
        meter.add("qcluster", cluster.pid)
        leads = leadline.wait_for_leads(tag, posted, args.drain_timeout)
        usage = meter.read()
    leadline.stop_worker()
    made = sorted(created for _, _, created in leadline.lead_times(tag))
    swept = sum(int(n) for n in SWEEP_LINE.findall(_read(log))) - swept_before
    if not made:
        raise SetupError(f"no lead was made from the backlog:\n{cluster.tail()}")
    return Drain(workers, round_, posted, leads, started, made[0], made[-1], usage, swept)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def worker_drains(leadline: Leadline, args: argparse.Namespace) -> list[Drain]:
    results: list[Drain] = []
    for round_ in range(1, args.drain_rounds + 1):
        shift = (round_ - 1) % len(args.q_workers)
        for workers in args.q_workers[shift:] + args.q_workers[:shift]:
            result = drain(leadline, workers, round_, args)
            results.append(result)
            print(
                f"  {workers} worker process(es): {result.leads}/{result.posted} leads, "
                f"{result.rate_from_start:.1f} leads/s from the start, "
                f"{result.rate_steady:.1f} first to last; CPU/lead qcluster "
                f"{num(result.cpu_ms('qcluster'), 2)} + PostgreSQL "
                f"{num(result.cpu_ms(DATABASE), 2)} ms; taken by the sweeper "
                f"{result.swept}\n    cores: {result.usage.cores_line()}",
                flush=True,
            )
    return results


def print_drains(results: list[Drain], args: argparse.Namespace) -> None:
    print(
        f"\nWorker draining a backlog of {args.drain:,} web-form events ({args.broker.upper()} "
        f"broker), medians of {args.drain_rounds} round(s):\n"
    )
    print(
        "| worker processes | leads/s from start | leads/s first to last lead "
        "| CPU ms per lead: qcluster + PostgreSQL | cores busy: qcluster, PostgreSQL "
        "| CPU-bound ceiling leads/s | taken by the sweeper | others' load (cores) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for workers in args.q_workers:
        mine = [r for r in results if r.workers == workers]
        per_lead = median(r.cpu_ms("qcluster") + r.cpu_ms(DATABASE) for r in mine)
        print(
            f"| {workers} | {num(median(r.rate_from_start for r in mine), 1)} "
            f"| {num(median(r.rate_steady for r in mine), 1)} "
            f"| {num(median(r.cpu_ms('qcluster') for r in mine), 2)} + "
            f"{num(median(r.cpu_ms(DATABASE) for r in mine), 2)} "
            f"| {num(median(r.usage.of('qcluster') / r.usage.wall for r in mine), 2)}, "
            f"{num(median(r.usage.of(DATABASE) / r.usage.wall for r in mine), 2)} "
            f"| {num(ceiling(per_lead), 0)} "
            f"| {sum(r.swept for r in mine)} | {num(median(r.others for r in mine), 2)} |"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if port_in_use(args.port):
        print(f"port {args.port} is already in use on {HOST}", file=sys.stderr)
        return 1
    redis_url = args.redis_url if args.broker == "redis" else ""
    print(f"Scaling shape: {machine_line()}")
    leadline = leadline_on_fresh_database(
        postgres=args.postgres,
        database=args.database,
        port=args.port,
        redis_url=redis_url,
        cluster_name="bench-scale",
    )
    logs = leadline.logs
    recreate_database(args.postgres.rstrip("/"), f"{args.database}_template", args.database)
    web: list[Result] = []
    drains: list[Drain] = []
    try:
        if args.web:
            print(f"\nWeb tier: {', '.join(map(str, args.web))} gunicorn workers")
            web = web_tier(leadline, args)
        if args.drain and args.q_workers:
            print(f"\nWorker: a backlog of {args.drain} events per try")
            drains = worker_drains(leadline, args)
    except SetupError as exc:
        print(f"benchmark could not run: {exc}\nlogs: {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted; every server is stopped; logs: {logs}", file=sys.stderr)
        return 130
    finally:
        leadline.stop()
    if web:
        print_web(web, args)
    if drains:
        print_drains(drains, args)
    print(f"\nlogs: {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
