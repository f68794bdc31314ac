"""Where the CPU goes: a py-spy profile of Leadline's web tier under load, or of its worker
draining a backlog, printed as the top functions.

    .venv/bin/pip install py-spy                          # once: a sampling profiler
    .venv/bin/python bench/hotspots.py web                 # gunicorn's workers, flat out
    .venv/bin/python bench/hotspots.py worker              # the qcluster draining a backlog

``web`` starts gunicorn (``--gunicorn-workers`` sync workers, no task worker) on a fresh
database, warms it up, and samples every gunicorn process for ``--seconds`` while
``--connections`` senders post the web form flat out. ``worker`` posts a backlog of
``--backlog`` events with no worker running, starts a ``qcluster`` (``--q-workers``
processes), waits for its first lead (so start-up is left out) and samples the whole cluster
for ``--seconds`` while it drains.

py-spy samples the running processes from outside (``--nonblocking``: they are not paused,
no code is changed) ``--rate`` times a second and keeps only samples of a thread holding the
GIL (``--gil``): a thread waiting for PostgreSQL, or woken and waiting for a core on a busy
machine, has let the GIL go, so the shares follow CPU rather than wall time. The report
lists, as shares of all samples: functions by their own time (the code that was running),
by inclusive time (running, or calling what was), and the inclusive list kept to Leadline's
own packages, where a change starts. The raw stacks are kept (``--out``) for a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.servers import HOST, SetupError, port_in_use  # noqa: E402
from bench.targets import Leadline, leadline_on_fresh_database  # noqa: E402

OWN_PACKAGES = ("crm/", "leads/", "integrations/")
# Frames that only start processes and loop: under nearly every sample, they say nothing.
SCAFFOLDING = (
    "(gunicorn",
    "(multiprocessing/",
    "(django/core/management/",
    "(manage.py",
    "(django_q/cluster.py",
    "(django_q/management/",
    "<module> (",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="A py-spy profile of Leadline's web tier or worker under load.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("what", choices=["web", "worker"])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to sample")
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--top", type=int, default=25, help="rows per list")
    parser.add_argument("--connections", type=int, default=32, help="web: flat-out senders")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--backlog", type=int, default=3000, help="worker: events to drain")
    parser.add_argument("--q-workers", type=int, default=1, help="worker: processes")
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="leadline_bench_profile", help="dropped first")
    parser.add_argument("--port", type=int, default=8230)
    parser.add_argument("--out", type=Path, help="keep the raw stacks here (collapsed format)")
    args = parser.parse_args(argv)
    if not args.database.startswith("leadline_bench"):
        parser.error("--database must start with leadline_bench: it is dropped first")
    return args


def py_spy() -> str:
    path = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    found = shutil.which("py-spy", path=path)
    if found is None:
        raise SetupError("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def record(pid: int, seconds: float, rate: int, out: Path) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` and its children into ``out`` (collapsed stacks)."""
    argv = [
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--gil",
        "--function",
        "--format",
        "raw",
        "--rate",
        str(rate),
        "--duration",
        str(int(seconds)),
        "--output",
        str(out),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stacks(path: Path) -> list[tuple[list[str], int]]:
    """``(frames from the root, samples)`` per line, without py-spy's process and thread
    frames."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        found.append((frames, int(count)))
    return found


def short(frame: str) -> str:
    """``function (path:line)`` with the path cut to what follows site-packages or ROOT."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def report(path: Path, top: int) -> None:
    found = stacks(path)
    total = sum(count for _, count in found)
    if not total:
        print("py-spy took no samples (was anything running?)")
        return
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in found:
        if frames:
            own[short(frames[-1])] += count
        for frame in {short(f) for f in frames}:  # once per stack, however deep the recursion
            inclusive[frame] += count
    print(f"\n{total} samples of Python holding the GIL ({path}); the inclusive lists leave")
    print("out the frames that only start processes and loop (gunicorn's arbiter, django-q's).")
    for title, counter, keep in (
        ("Own time (the function itself was running)", own, None),
        ("Inclusive time (running, or calling what was)", inclusive, None),
        ("Inclusive time, Leadline's own code", inclusive, OWN_PACKAGES),
    ):
        print(f"\n{title}:\n")
        print("| share | samples | function (file) |")
        print("|---:|---:|---|")
        rows = [
            (frame, count)
            for frame, count in counter.most_common()
            if (keep is None or any(f"({package}" in frame for package in keep))
            and (counter is own or not any(part in frame for part in SCAFFOLDING))
        ]
        for frame, count in rows[:top]:
            print(f"| {100 * count / total:.1f} % | {count} | `{frame}` |")


def profile_web(leadline: Leadline, args: argparse.Namespace, out: Path) -> None:
    leadline.start_web(workers=args.gunicorn_workers)
    asyncio.run(leadline.flat_out("warm", connections=8, seconds=3.0))

    async def load_while_recording() -> int:
        load = leadline.flat_out(
            "profile", connections=args.connections, seconds=args.seconds + 3, count=10**7
        )
        run_task = asyncio.create_task(load)
        await asyncio.sleep(1.0)
        spy = record(leadline.children["gunicorn"].pid, args.seconds, args.rate, out)
        await asyncio.to_thread(spy.wait)
        run = await run_task
        return sum(1 for s in run.samples if s.status == 201)

    accepted = asyncio.run(load_while_recording())
    print(f"web: {accepted} submissions accepted in {args.seconds + 3:g} s of load")


def profile_worker(leadline: Leadline, args: argparse.Namespace, out: Path) -> None:
    leadline.start_web(workers=4)
    asyncio.run(leadline.flat_out("bl", connections=32, seconds=600, count=args.backlog))
    leadline.stop_web()
    posted = leadline.stored("bl")
    cluster = leadline.start_worker(args.q_workers)
    deadline = time.monotonic() + 120
    while leadline.leads("bl") == 0:
        if time.monotonic() > deadline or not cluster.alive():
            raise SetupError(f"the cluster made no lead in 120 s:\n{cluster.tail()}")
        time.sleep(0.2)
    before = leadline.leads("bl")
    spy = record(cluster.pid, args.seconds, args.rate, out)
    spy.wait()
    made = leadline.leads("bl") - before
    print(f"worker: {made} leads made while sampling ({posted} events in the backlog)")
    if made >= posted - before:
        print("  the backlog ran out while sampling: raise --backlog for a steady profile")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        py_spy()
    except SetupError as exc:
        print(exc, file=sys.stderr)
        return 1
    if port_in_use(args.port):
        print(f"port {args.port} is already in use on {HOST}", file=sys.stderr)
        return 1
    redis_url = args.redis_url if args.broker == "redis" else ""
    leadline = leadline_on_fresh_database(
        postgres=args.postgres,
        database=args.database,
        port=args.port,
        redis_url=redis_url,
        cluster_name="bench-profile",
    )
    logs = leadline.logs
    out = args.out or logs / f"{args.what}.stacks"
    try:
        if args.what == "web":
            profile_web(leadline, args, out)
        else:
            profile_worker(leadline, args, out)
    except SetupError as exc:
        print(f"profile could not run: {exc}\nlogs: {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted; every server is stopped; logs: {logs}", file=sys.stderr)
        return 130
    finally:
        leadline.stop()
    report(out, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
