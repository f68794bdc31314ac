"""CPU accounting from ``/proc``: whole process trees, ended processes included, and the
PostgreSQL backends of chosen databases.

A server's CPU is the CPU of every process of its session (the benchmarks start each server
with a session of its own): for each live member its own user + system time plus the time of
the children it has reaped (``cutime`` + ``cstime``, which the kernel adds to the parent when
it reaps a child, with that child's own reaped children). So a worker that gunicorn or
django-q2 recycles in the middle of a run still counts in full: its time moves into its
parent's reaped-children fields when it is reaped. A snapshot is read twice and kept only when
no member ended in between, so no process is counted twice or lost in the gap.

PostgreSQL's backends are children of the postmaster, which reaps those of every database
at once, so a backend that ends cannot be told apart afterwards. They are sampled instead
(every ``interval`` seconds, in a thread): each backend counts from its first sample in the
window to its last. A backend that ends during the window loses at most its last interval,
and how many ended is reported; the servers here keep their connections (``CONN_MAX_AGE``,
n8n's pools), so few do.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
MACHINE = "machine (all processes)"
LOAD_GENERATOR = "load generator"
PG_BACKGROUND = "PostgreSQL background"


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` that accounting needs, times in seconds."""

    pid: int
    comm: str
    ppid: int
    session: int
    own: float  # utime + stime
    reaped: float  # cutime + cstime: children it has waited for, with theirs
    start: int  # clock ticks after boot, to tell a reused pid apart


def read_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5): state; ppid 4, session 6, utime 14 .. cstime 17, start 22
    return ProcStat(
        pid=pid,
        comm=comm,
        ppid=int(fields[1]),
        session=int(fields[3]),
        own=(int(fields[11]) + int(fields[12])) / CLK_TCK,
        reaped=(int(fields[13]) + int(fields[14])) / CLK_TCK,
        start=int(fields[19]),
    )


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def session_cpu(sessions: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named session (its leader's pid): live members' own
    time and the time of every member they have reaped."""
    wanted = {sid: name for name, sid in sessions.items()}
    for _ in range(20):
        first = {s.pid: s for pid in all_pids() if (s := read_stat(pid)) and s.session in wanted}
        second = {pid: read_stat(pid) for pid in first}
        if all(s is not None and s.start == first[pid].start for pid, s in second.items()):
            break  # no member ended while the first pass was read: it is consistent
    used = dict.fromkeys(sessions, 0.0)
    for stat in first.values():
        used[wanted[stat.session]] += stat.own + stat.reaped
    return used


def own_cpu() -> float:
    """This process's own CPU (all its threads), without the servers it started and reaped."""
    times = os.times()
    return times.user + times.system


def machine_busy() -> float:
    """CPU seconds all processes have used since boot (``/proc/stat``, idle and iowait out)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def backend_database(cmdline: str) -> str | None:
    """The database of a PostgreSQL backend from its process title, ``""`` for a background
    process, ``None`` when it is no PostgreSQL process of this kind.

    Titles look like ``postgres: 15/main: postgres leadline_bench 127.0.0.1(5432) idle``,
    ``postgres: 15/main: autovacuum worker leadline_bench`` or ``postgres: 15/main: walwriter``.
    """
    if not cmdline.startswith("postgres: "):
        return None
    words = cmdline.split(": ", 2)[-1].split()
    if words[:2] == ["autovacuum", "worker"] and len(words) > 2:
        return words[2]
    if len(words) >= 3 and (words[2].endswith(")") or words[2] == "[local]"):
        return words[1]
    return ""


class BackendSampler(threading.Thread):
    """Samples the CPU of PostgreSQL's processes: backends of the chosen databases, each
    under its party's name, and the cluster's background processes (shared by every
    database on it, so reported apart)."""

    def __init__(
        self,
        databases: Mapping[str, str],
        interval: float = 0.1,
        ignore_pids: Collection[int] = (),
    ) -> None:
        super().__init__(daemon=True, name="backend-sampler")
        self.databases = dict(databases)
        self.ignore_pids = set(ignore_pids)  # the benchmark's own connections
        self.interval = interval
        self.lock = threading.RLock()  # the thread and ``used()`` both sample
        self.stopping = threading.Event()
        self.ignored: set[tuple[int, int]] = set()  # (pid, start): another database's
        self.party: dict[tuple[int, int], str] = {}
        self.first: dict[tuple[int, int], float] = {}  # CPU when the window began, or 0
        self.last: dict[tuple[int, int], float] = {}
        self.ended: set[tuple[int, int]] = set()
        self.sample(initial=True)

    def _classify(self, pid: int, key: tuple[int, int]) -> str | None:
        """The party of a PostgreSQL process, or None (not titled yet, or not ours)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        database = backend_database(cmdline.replace(b"\0", b" ").decode(errors="replace"))
        if database is None:
            return None  # the postmaster itself, or a backend still being set up
        if database and database not in self.databases:
            self.ignored.add(key)
            return None
        party = self.databases[database] if database else PG_BACKGROUND
        self.party[key] = party
        return party

    def sample(self, initial: bool = False) -> None:
        with self.lock:
            self._sample(initial)

    def _sample(self, initial: bool) -> None:
        seen: dict[tuple[int, int], float] = {}
        for pid in all_pids():
            stat = read_stat(pid)
            if stat is None or stat.comm != "postgres" or pid in self.ignore_pids:
                continue  # backends are forked by the postmaster: named postgres from birth
            key = (pid, stat.start)
            if key in self.ignored or (key not in self.party and not self._classify(pid, key)):
                continue
            seen[key] = stat.own
        for key, own in seen.items():
            # A backend born in the window counts from zero, one there before from now.
            self.first.setdefault(key, own if initial else 0.0)
            self.last[key] = own
        self.ended |= self.last.keys() - seen.keys()  # their last samples stand

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.sample()

    def used(self) -> tuple[dict[str, float], int]:
        """CPU seconds per party since the first sample, and how many backends ended."""
        self.sample()
        totals: defaultdict[str, float] = defaultdict(float)
        with self.lock:
            for key, last in self.last.items():
                totals[self.party[key]] += last - self.first[key]
            ended = sum(1 for key in self.ended if self.party[key] != PG_BACKGROUND)
        return dict(totals), ended

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join()


@dataclass
class Usage:
    """CPU seconds each party used in a window, and the window's wall time."""

    seconds: dict[str, float]
    wall: float
    machine: float
    ended_backends: int = 0

    def of(self, *parties: str) -> float:
        return sum(self.seconds.get(party, 0.0) for party in parties)

    def since(self, earlier: Usage) -> Usage:
        """What was used after ``earlier``, a reading of the same window."""
        return Usage(
            seconds={
                name: used - earlier.seconds.get(name, 0.0) for name, used in self.seconds.items()
            },
            wall=self.wall - earlier.wall,
            machine=self.machine - earlier.machine,
            ended_backends=self.ended_backends - earlier.ended_backends,
        )

    def cores_line(self) -> str:
        """Cores busy on average per party, and what the rest of the machine used."""
        wall = self.wall or 1.0
        ours = sum(self.seconds.values())
        parts = [
            f"{name} {seconds / wall:.2f}"
            for name, seconds in sorted(self.seconds.items(), key=lambda kv: -kv[1])
            if seconds / wall >= 0.005
        ]
        parts.append(f"anything else {max(0.0, self.machine - ours) / wall:.2f}")
        line = f"machine {self.machine / wall:.2f} of {os.cpu_count()} cores = " + ", ".join(parts)
        if self.ended_backends:
            line += f" ({self.ended_backends} PostgreSQL backend(s) ended: the CPU of their "
            line += "last sample interval is not counted)"
        return line


class Meter:
    """Measures a window: ``start()``, then ``read()`` as often as wanted, then ``stop()``.

    ``sessions`` names the servers (party name -> session leader's pid); ``databases`` maps
    each PostgreSQL database to the party its backends count for, except the backends of the
    benchmark's own connections (``ignore_pids``: it counts rows while a server works).
    """

    def __init__(
        self,
        sessions: Mapping[str, int],
        databases: Mapping[str, str] | None = None,
        interval: float = 0.1,
        ignore_pids: Collection[int] = (),
    ) -> None:
        self.sessions = dict(sessions)
        self.databases = dict(databases or {})
        self.interval = interval
        self.ignore_pids = ignore_pids
        self.sampler: BackendSampler | None = None

    def start(self) -> Meter:
        self.sampler = BackendSampler(self.databases, self.interval, self.ignore_pids)
        self.sampler.start()
        self.started = time.monotonic()
        self.machine = machine_busy()
        self.own = own_cpu()
        self.trees = session_cpu(self.sessions)
        return self

    def add(self, name: str, session: int) -> None:
        """Count a server started inside the window, from its start."""
        self.sessions[name] = session
        self.trees[name] = 0.0

    def read(self) -> Usage:
        assert self.sampler is not None, "start() first"
        trees = session_cpu(self.sessions)
        seconds = {name: trees[name] - self.trees.get(name, 0.0) for name in self.sessions}
        database, ended = self.sampler.used()
        for party, used in database.items():
            seconds[party] = seconds.get(party, 0.0) + used
        seconds[LOAD_GENERATOR] = own_cpu() - self.own
        return Usage(
            seconds=seconds,
            wall=time.monotonic() - self.started,
            machine=machine_busy() - self.machine,
            ended_backends=ended,
        )

    def stop(self) -> Usage:
        usage = self.read()
        assert self.sampler is not None
        self.sampler.stop()
        return usage

    def __enter__(self) -> Meter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.sampler is not None:
            self.sampler.stop()
