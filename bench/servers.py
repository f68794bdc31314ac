"""The processes a benchmark starts: each in a session of its own (so its CPU can be counted
as one tree, see ``bench/cpu.py``, and stopped as one group), logging to a file."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.cpu import all_pids, read_stat

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class SetupError(Exception):
    """The benchmark could not start (port taken, server not healthy, worker silent)."""


class Child:
    """A process this benchmark started, in a session (and process group) of its own."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM (a graceful stop), SIGKILL to its group after ``grace`` seconds, and
        SIGKILL to anything of its session that outlived it."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)  # still our group: its leader is unreaped
                self.proc.wait()
        for pid in session_members(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def session_members(session: int) -> list[int]:
    return [pid for pid in all_pids() if (s := read_stat(pid)) and s.session == session]


def with_cpus(argv: list[str], cpus: str | None) -> list[str]:
    """``argv`` pinned to a CPU list (``taskset -c``) when one is given."""
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def gunicorn_argv(
    app: str, port: int, workers: int, threads: int = 1, worker_class: str = "sync"
) -> list[str]:
    """gunicorn serving ``app`` on ``HOST:port``, as every benchmark here starts it."""
    return [
        str(ROOT / ".venv/bin/gunicorn"),
        app,
        *("--bind", f"{HOST}:{port}", "--workers", str(workers), "--threads", str(threads)),
        *("--worker-class", worker_class, "--backlog", "2048", "--graceful-timeout", "10"),
        *("--log-level", "warning", "--no-control-socket"),
    ]


def port_in_use(port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def http_request(
    port: int, path: str, method: str = "GET", body: bytes | None = None
) -> tuple[int, str]:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


def http_get(port: int, path: str) -> tuple[int, str]:
    return http_request(port, path)


def wait_until_ready(
    server: Child, ready: Callable[[], tuple[bool, str]], timeout: float = 120.0
) -> None:
    """Poll ``ready()`` (answered, and what it saw) until it answers or ``timeout`` passes;
    raise ``SetupError`` with the server's log when the server exits or never gets ready."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not server.alive():
            raise SetupError(f"{server.name} exited:\n{server.tail()}")
        try:
            done, last = ready()
        except OSError as exc:
            done, last = False, str(exc)
        if done:
            return
        time.sleep(0.2)
    raise SetupError(
        f"{server.name} not ready after {timeout:.0f} s ({last[:200]}):\n{server.tail()}"
    )


def wait_healthy(port: int, server: Child, timeout: float = 120.0, path: str = "/healthz") -> None:
    def healthy() -> tuple[bool, str]:
        status, body = http_get(port, path)
        return status == 200, f"{status} {body[:200]}"

    wait_until_ready(server, healthy, timeout)


def machine_line() -> str:
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    load = Path("/proc/loadavg").read_text().split()[:3]
    return (
        f"nproc {os.cpu_count()}, memory {int(memory) / 1024 / 1024:.1f} GiB, "
        f"load average {' '.join(load)}, Python {sys.version.split()[0]}"
    )
