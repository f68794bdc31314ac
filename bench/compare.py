"""Side by side, in one command: Leadline's ingest, a bare Django insert app and n8n.

Run ``.venv/bin/python bench/compare.py`` (``--help`` for the options; ``--quick`` for a
one-round smoke run). It starts, each on a PostgreSQL database of its own on the same
server and the same machine:

- **Leadline**, the hosted web form posted as JSON, under gunicorn (4 sync workers), with no
  worker running: what the door costs (store the raw event, queue it, reply 201);
- **Leadline + worker**: a second instance with a ``qcluster`` running (2 worker processes),
  so the door shares the cores with the work behind it; after its load the benchmark waits
  for every accepted post to become a lead and counts that CPU too: the whole cost per lead;
- **bare Django** (``bench/bare/``): parse the JSON, one ORM INSERT of a JSONB row, 201,
  under gunicorn with the same workers;
- **n8n** 1.94.1 (regular mode, on PostgreSQL) running ``bench/n8n/ingest-workflow.json``:
  webhook, INSERT of the body as one JSONB row, 201 after the insert. n8n is found in
  ``~/.cache/leadline-bench/n8n-1.94.1`` or on PATH, installed there with ``--install-n8n``;
  without it the benchmark says so and measures the rest.

Then, in alternating rounds (each round runs every target once, in a rotated order), it
posts flat out (``--connections`` senders back to back for ``--seconds``) to each, and at a
fixed rate (``--fixed-rate`` per second, open loop) to Leadline and bare Django. It prints
accepted/s, reply p50/p99 and CPU per request (the server's whole process tree, recycled
workers included, plus its database's PostgreSQL backends; see ``bench/cpu.py``), the
medians over the rounds, and the ratios of each round (Leadline / bare, Leadline / n8n) with
their medians. Other work on the machine slows every target alike within a round, so the
ratios hold better than the absolute figures; each measurement prints how busy the rest of
the machine was.

Traffic goes only to 127.0.0.1; everything started is stopped on the way out, on Ctrl-C and
on errors too. It prints its figures and exits 0; a setup failure exits 1 with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cpu import Meter, Usage  # noqa: E402
from bench.ingest import phone_numbers  # noqa: E402
from bench.loadgen import Run, percentile  # noqa: E402
from bench.servers import HOST, SetupError, machine_line, port_in_use  # noqa: E402
from bench.targets import (  # noqa: E402
    N8N_DIR,
    N8N_VERSION,
    Bare,
    Leadline,
    N8n,
    Target,
    install_n8n,
    n8n_executable,
    recreate_database,
    setup_django,
)

DATABASE = "PostgreSQL"  # the party a target's database backends count for
SERVERS = ("gunicorn", "qcluster", "n8n")
TARGETS = ("leadline", "leadline+worker", "bare", "n8n")
LABELS = {
    "leadline": "Leadline web form, worker stopped",
    "leadline+worker": "Leadline web form, worker running",
    "bare": "bare Django insert",
    "n8n": f"n8n {N8N_VERSION} webhook -> PostgreSQL",
}

SHORT = {
    "leadline": "Leadline",
    "leadline+worker": "Leadline + worker",
    "bare": "bare",
    "n8n": "n8n",
}


# --- Configuration ----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Leadline's ingest beside a bare Django insert and n8n, alternating rounds.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians)")
    parser.add_argument("--seconds", type=float, default=10.0, help="flat-out load per target")
    parser.add_argument("--connections", type=int, default=32, help="flat-out senders")
    parser.add_argument(
        "--fixed-rate",
        type=float,
        default=100.0,
        help="open-loop rate for Leadline and bare; 0: none",
    )
    parser.add_argument("--fixed-seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load after a start")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between measurements")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="one round of 3 s each: a smoke run, not figures"
    )
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--gunicorn-threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--q-workers", type=int, default=2, help="Leadline's worker processes")
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/3", help="flushed first (--broker redis)"
    )
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--database-prefix", default="leadline_bench_cmp", help="its databases are dropped first"
    )
    parser.add_argument("--port-base", type=int, default=8210, help="targets use the next four")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="wait for leads")
    parser.add_argument("--install-n8n", action="store_true", help=f"npm install into {N8N_DIR}")
    parser.add_argument("--n8n-dir", type=Path, default=N8N_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.fixed_seconds, args.warmup = 1, 3.0, 3.0, 1.0
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if not args.database_prefix.startswith("leadline_bench"):
        parser.error("--database-prefix must start with leadline_bench: they are dropped first")
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds and --seconds must be positive")
    return args


def slug(name: str) -> str:
    """A target's name as it can stand in a submission id (letters, digits, '-')."""
    return name.replace("+", "-")


# --- One measurement --------------------------------------------------------------------


@dataclass
class Result:
    """One load on one target: what was sent, answered, stored, and the CPU it took."""

    target: str  # its key in TARGETS
    kind: str  # "flat" or "fixed"
    round: int
    run: Run
    posting: Usage  # CPU while the load ran
    drain: Usage | None = None  # ... and after it, until the worker made every lead
    stored: int = 0  # rows the target holds for this load's posts
    leads: int = 0
    leads_in_window: int = 0  # leads made while the load ran
    drain_seconds: float = float("nan")  # last lead after the last reply
    failed_events: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.run.samples if 200 <= s.status < 300)

    @property
    def rate(self) -> float:
        return self.accepted / self.run.elapsed if self.run.elapsed else 0.0

    def latency(self, fraction: float) -> float:
        ok = [s.latency for s in self.run.samples if 200 <= s.status < 300]
        return percentile(ok, fraction)

    @property
    def refused(self) -> int:
        return len(self.run.samples) - self.accepted + self.run.unsent

    @property
    def handled(self) -> int:
        """Requests the server did the work for: the accepted ones, or the rows stored when
        more (a request the load generator gave up on may still have been stored)."""
        return max(self.accepted, self.stored)

    def cpu_ms(self, *parties: str) -> float:
        """CPU milliseconds per handled request of ``parties``, the drain included."""
        used = self.posting.of(*parties) + (self.drain.of(*parties) if self.drain else 0.0)
        return 1000 * used / self.handled if self.handled else float("nan")

    @property
    def server_ms(self) -> float:
        return self.cpu_ms(*SERVERS)

    @property
    def database_ms(self) -> float:
        return self.cpu_ms(DATABASE)

    @property
    def total_ms(self) -> float:
        return self.server_ms + self.database_ms

    @property
    def others(self) -> float:
        """Cores the rest of the machine (not this benchmark) kept busy during the load."""
        usage = self.posting
        return max(0.0, usage.machine - sum(usage.seconds.values())) / (usage.wall or 1.0)


def measure(
    key: str,
    target: Target,
    kind: str,
    round_: int,
    tag: str,
    load: Coroutine[Any, Any, Run],
    drain_timeout: float,
) -> Result:
    """Run ``load`` against ``target`` and count everything it took; when the target has a
    worker running, wait (bounded) for the leads and count that CPU too."""
    meter = Meter(target.sessions, {target.database: DATABASE}, ignore_pids=target.own_backends())
    with meter:
        run = asyncio.run(load)
        result = Result(key, kind, round_, run, meter.read())
        if isinstance(target, Leadline) and "qcluster" in target.children:
            # Every stored event, answered in time or not, so no work spills into the next load.
            expected = max(result.accepted, target.stored(tag))
            result.leads = target.wait_for_leads(tag, expected, drain_timeout)
            result.drain = meter.read().since(result.posting)
    result.statuses = Counter(s.status for s in run.samples)
    result.errors = sorted(
        {
            s.error or s.body.decode(errors="replace")[:160]
            for s in run.samples
            if not 200 <= s.status < 300
        }
    )[:3]
    result.stored = target.stored(tag)
    if isinstance(target, Leadline) and result.drain is not None:
        window_end = run.wall(run.finished)
        last_reply = max((run.wall(s.done) for s in run.samples), default=window_end)
        made = [created for _, _, created in target.lead_times(tag)]
        result.leads_in_window = sum(1 for created in made if created <= window_end)
        if made:
            result.drain_seconds = max(made) - last_reply
        result.failed_events = target.failed_events()
    return result


def flat(key: str, target: Target, round_: int, args: argparse.Namespace) -> Result:
    tag = f"r{round_}-flat-{slug(key)}"
    load = target.flat_out(tag, connections=args.connections, seconds=args.seconds)
    return measure(key, target, "flat", round_, tag, load, args.drain_timeout)


def fixed(key: str, target: Target, round_: int, args: argparse.Namespace) -> Result:
    tag = f"r{round_}-fixed-{slug(key)}"
    load = target.fixed_rate(tag, rate=args.fixed_rate, seconds=args.fixed_seconds)
    return measure(key, target, "fixed", round_, tag, load, args.drain_timeout)


def warm_up(key: str, target: Target, args: argparse.Namespace) -> None:
    """Load a freshly started target for ``--warmup`` seconds (imports, connections, JIT);
    a target that accepts nothing stops the benchmark."""
    tag = f"warmup-{slug(key)}"
    load = target.flat_out(tag, connections=8, seconds=args.warmup)
    result = measure(key, target, "warm-up", 0, tag, load, args.drain_timeout)
    if not result.accepted or (result.drain is not None and result.leads < result.handled):
        raise SetupError(
            f"{target.name} warm-up: {result.accepted} accepted, {result.leads} leads; "
            f"statuses {dict(result.statuses)} {result.errors}"
        )


# --- Report -----------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"


def num(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def print_result(result: Result) -> None:
    statuses = dict(sorted(result.statuses.items()))
    label = LABELS.get(result.target, result.target)
    print(
        f"  {label:<34} {result.kind:<5} {result.rate:7.1f} accepted/s  "
        f"p50 {ms(result.latency(0.5)):>6} p99 {ms(result.latency(0.99)):>7} ms  "
        f"CPU/request {num(result.server_ms, 2)} + PostgreSQL {num(result.database_ms, 2)} ms  "
        f"(statuses {statuses}, stored {result.stored}, others' load {result.others:.2f} cores)"
    )
    if result.drain is not None:
        print(
            f"  {'':<34} leads {result.leads}/{result.handled}: {result.leads_in_window} while "
            f"posting ({result.leads_in_window / (result.run.elapsed or 1):.1f}/s), the last "
            f"{result.drain_seconds:.1f} s after the last reply; CPU/lead gunicorn "
            f"{num(result.cpu_ms('gunicorn'), 2)}, qcluster {num(result.cpu_ms('qcluster'), 2)}, "
            f"PostgreSQL {num(result.database_ms, 2)} ms; failed events {result.failed_events}"
        )
    print(f"  {'':<34} cores: {result.posting.cores_line()}")
    if result.errors:
        print(f"  {'':<34} errors: {' | '.join(result.errors)}")
    sys.stdout.flush()


def ceiling(cpu_ms: float) -> float:
    """Requests a second this machine's cores would bear if CPU were all that limited them
    and nothing else ran: a projection from CPU per request, steady however busy the
    machine was, unlike the measured rate."""
    return (os.cpu_count() or 1) * 1000 / cpu_ms if cpu_ms > 0 else float("nan")


def median(values: Iterable[float]) -> float:
    kept = [v for v in values if v == v]
    return statistics.median(kept) if kept else float("nan")


def spread(values: list[float], digits: int = 2) -> str:
    """The median and, in brackets, each round's value."""
    each = ", ".join(num(v, digits) for v in values)
    return (
        f"{num(median(values), digits)} ({each})"
        if len(values) > 1
        else num(median(values), digits)
    )


def print_summary(results: list[Result], targets: list[str], args: argparse.Namespace) -> None:
    flat_results = [r for r in results if r.kind == "flat"]
    print(
        f"\nFlat out, {args.connections} connections, {args.seconds:g} s per target, "
        f"medians of {args.rounds} alternating round(s):\n"
    )
    print(
        "| target | accepted/s | reply p50 ms | reply p99 ms "
        "| CPU ms per request: server + PostgreSQL | CPU-bound ceiling /s "
        "| others' load (cores) | not accepted |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key in targets:
        mine = [r for r in flat_results if r.target == key]
        if not mine:
            continue
        server = median(r.server_ms for r in mine)
        database = median(r.database_ms for r in mine)
        print(
            f"| {LABELS[key]} | {num(median(r.rate for r in mine), 0)} "
            f"| {ms(median(r.latency(0.5) for r in mine))} "
            f"| {ms(median(r.latency(0.99) for r in mine))} "
            f"| {num(server, 2)} + {num(database, 2)} = {num(server + database, 2)} "
            f"| {num(ceiling(server + database), 0)} "
            f"| {num(median(r.others for r in mine), 2)} | {sum(r.refused for r in mine)} |"
        )
    worker = [r for r in flat_results if r.target == "leadline+worker"]
    if worker:
        print(
            f"\nLeadline with the worker: CPU per lead (request, worker, database, drain "
            f"included): gunicorn {num(median(r.cpu_ms('gunicorn') for r in worker), 2)} + "
            f"qcluster {num(median(r.cpu_ms('qcluster') for r in worker), 2)} + PostgreSQL "
            f"{num(median(r.database_ms for r in worker), 2)} ms; leads made while posting "
            f"{num(median(r.leads_in_window / (r.run.elapsed or 1) for r in worker), 1)}/s; "
            f"the backlog took {num(median(r.drain_seconds for r in worker), 1)} s more"
        )
    print_ratios(flat_results)
    fixed_results = [r for r in results if r.kind == "fixed"]
    if fixed_results:
        print(
            f"\nFixed {args.fixed_rate:g}/s for {args.fixed_seconds:g} s (open loop, latency "
            f"from the scheduled send), medians of {args.rounds}:\n"
        )
        print("| target | accepted/s | reply p50 ms | p95 ms | p99 ms | max ms | not accepted |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for key in targets:
            mine = [r for r in fixed_results if r.target == key]
            if not mine:
                continue
            worst = max(max((s.latency for s in r.run.samples), default=float("nan")) for r in mine)
            print(
                f"| {LABELS[key]} | {num(median(r.rate for r in mine), 0)} "
                f"| {ms(median(r.latency(0.5) for r in mine))} "
                f"| {ms(median(r.latency(0.95) for r in mine))} "
                f"| {ms(median(r.latency(0.99) for r in mine))} | {ms(worst)} "
                f"| {sum(r.refused for r in mine)} |"
            )


def print_ratios(flat_results: list[Result]) -> None:
    """Each round's ratios, from the targets measured in that round, and their medians."""
    rounds = sorted({r.round for r in flat_results})
    by = {(r.round, r.target): r for r in flat_results}
    pairs = [
        ("leadline", "bare"),
        ("leadline+worker", "bare"),
        ("leadline", "n8n"),
        ("leadline+worker", "n8n"),
    ]
    lines = []
    for mine, theirs in pairs:
        both = [
            (by[r, mine], by[r, theirs]) for r in rounds if (r, mine) in by and (r, theirs) in by
        ]
        if not both:
            continue
        rate = [a.rate / b.rate if b.rate else float("nan") for a, b in both]
        cpu = [a.total_ms / b.total_ms if b.total_ms else float("nan") for a, b in both]
        p99 = [a.latency(0.99) / b.latency(0.99) for a, b in both]
        name = f"{SHORT[mine]} / {SHORT[theirs]}"
        lines.append(f"| {name} | {spread(rate)} | {spread(cpu)} | {spread(p99)} |")
    if lines:
        print("\nRatios, each round's own (median, then every round):\n")
        print("| ratio | accepted/s | CPU per request | reply p99 |")
        print("|---|---:|---:|---:|")
        print("\n".join(lines))


# --- Setup ------------------------------------------------------------------------------


def find_n8n(args: argparse.Namespace) -> tuple[Path | None, str]:
    """n8n's executable (installed first when asked), or None and why."""
    executable = n8n_executable(args.n8n_dir)
    if executable is None and args.install_n8n:
        executable = install_n8n(args.n8n_dir)
    if executable is None:
        return None, (
            f"n8n not found (neither in {args.n8n_dir} nor on PATH): run with --install-n8n "
            f"to install n8n {N8N_VERSION} there from the npm registry (about 3 minutes, 1.3 GB)"
        )
    version = (
        subprocess.run(
            [str(executable), "--version"], capture_output=True, text=True, check=False, timeout=120
        )
        .stdout.strip()
        .splitlines()
    )
    found = version[-1] if version else "?"
    note = "" if found == N8N_VERSION else f" (not {N8N_VERSION}: figures may differ)"
    return executable, f"n8n {found} at {executable}{note}"


def start_targets(
    args: argparse.Namespace,
    logs: Path,
    phones: list[str],
    n8n: Path | None,
    targets: dict[str, Target],
) -> None:
    """Build every database, then start every target (into ``targets``, so the caller stops
    whatever started should a later one fail) and warm it up."""
    prefix, postgres = args.database_prefix, args.postgres.rstrip("/")
    redis_url = args.redis_url if args.broker == "redis" else ""
    ports = {name: args.port_base + 1 + i for i, name in enumerate(TARGETS)}
    busy = [str(ports[t]) for t in args.targets if port_in_use(ports[t])]
    if busy:
        raise SetupError(f"port(s) {', '.join(busy)} already in use on {HOST} (--port-base)")
    web = {
        "workers": args.gunicorn_workers,
        "threads": args.gunicorn_threads,
        "worker_class": args.worker_class,
    }
    if {"leadline", "leadline+worker"} & set(args.targets):
        Leadline.migrate_template(postgres, prefix)
        instances = [("leadline", prefix, "bench-idle")]
        if "leadline+worker" in args.targets:  # a copy, made before anything connects
            recreate_database(postgres, f"{prefix}_worker", template=prefix)
            instances.append(("leadline+worker", f"{prefix}_worker", "bench-worker"))
        for name, database, cluster in instances:
            if name not in args.targets:
                continue
            leadline = Leadline(
                name=LABELS[name],
                postgres=postgres,
                database=database,
                port=ports[name],
                logs=logs,
                phones=phones,
                redis_url=redis_url,
                cluster_name=cluster,
            )
            targets[name] = leadline
            leadline.start_web(**web)
            if name == "leadline+worker":
                leadline.start_worker(args.q_workers)
    if "bare" in args.targets:
        bare = Bare(
            postgres=postgres,
            database=f"{prefix}_bare",
            port=ports["bare"],
            logs=logs,
            phones=phones,
        )
        targets["bare"] = bare
        bare.prepare()
        bare.start(**web)
    if "n8n" in args.targets and n8n is not None:
        flow = N8n(
            executable=n8n,
            postgres=postgres,
            database=f"{prefix}_n8n",
            port=ports["n8n"],
            logs=logs,
            phones=phones,
        )
        targets["n8n"] = flow
        try:
            flow.prepare()
            flow.start()
        except SetupError as exc:
            print(f"n8n could not start, measuring the rest: {exc}", file=sys.stderr)
            targets.pop("n8n").stop()
    for name, target in targets.items():
        warm_up(name, target, args)


def run_rounds(targets: dict[str, Target], args: argparse.Namespace) -> list[Result]:
    names = list(targets)
    results: list[Result] = []
    for round_ in range(1, args.rounds + 1):
        shift = (round_ - 1) % len(names)
        order = names[shift:] + names[:shift]
        print(f"\nRound {round_} of {args.rounds}: {', '.join(order)}")
        for name in order:
            time.sleep(args.pause)
            results.append(flat(name, targets[name], round_, args))
            print_result(results[-1])
        if args.fixed_rate > 0:
            for name in (n for n in order if n != "n8n"):
                time.sleep(args.pause)
                results.append(fixed(name, targets[name], round_, args))
                print_result(results[-1])
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the finally block stops every server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    setup_django(
        postgres=args.postgres,
        database=args.database_prefix,
        port=args.port_base + 1,
        redis_url=args.redis_url if args.broker == "redis" else "",
    )
    import psycopg

    with psycopg.connect(f"{args.postgres.rstrip('/')}/postgres") as admin:
        pg_version = admin.info.parameter_status("server_version") or "?"
    print(f"Side by side: {machine_line()}, PostgreSQL {pg_version}")
    n8n, n8n_note = (None, "n8n not asked for")
    try:
        if "n8n" in args.targets:
            n8n, n8n_note = find_n8n(args)
    except SetupError as exc:
        n8n_note = f"n8n could not be installed: {exc}"
    print(n8n_note)
    logs = Path(tempfile.mkdtemp(prefix="leadline-compare-"))
    targets: dict[str, Target] = {}
    try:
        start_targets(args, logs, phone_numbers(), n8n, targets)
        results = run_rounds(targets, args)
    except SetupError as exc:
        print(f"benchmark could not run: {exc}\nlogs: {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted; every server is stopped; logs: {logs}", file=sys.stderr)
        return 130
    finally:
        for target in reversed(list(targets.values())):
            target.stop()
    print_summary(results, [t for t in args.targets if t in targets], args)
    if "n8n" in args.targets and "n8n" not in targets:
        print(f"\nn8n was not measured: {n8n_note}")
    print(
        f"\ngunicorn: {args.gunicorn_workers} x {args.worker_class} worker(s), "
        f"{args.gunicorn_threads} thread(s); Leadline's qcluster: {args.q_workers} worker(s), "
        f"{args.broker.upper()} broker; logs: {logs}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
