"""Speed to lead: from a web-form request to Twilio accepting the agent's SMS, and the
instant reply SMS to the lead.

Run ``.venv/bin/python bench/speed_to_lead.py`` (``--broker orm``, ``redis`` or ``both``,
the default). For each broker it:

1. drops and creates its own database (``leadline_bench_stl``), migrates it and creates a
   team, an agent with a phone, a territory and a web form (as ``bench/ingest.py`` does);
2. starts a local Twilio API (the one the tests use: ``POST .../Messages.json``, Basic auth,
   a 201 with a Message) and a local SMTP server (aiosmtpd), and points the settings at them
   (``TWILIO_API_BASE_URL``, ``EMAIL_URL``);
3. starts gunicorn and a django-q2 cluster (``manage.py qcluster``), as in production;
4. posts ``--leads`` web-form submissions one after another, ``--interval`` seconds apart
   (speed to lead is a latency, not a throughput), and for each records when the request
   left, when the Twilio API received the agent's SMS alert for that lead, when it received
   the instant reply SMS to the lead (each lead has a mobile number of its own and SMS
   consent; ``LEAD_SMS_HOURS`` is empty, so the reply never waits for the morning), and
   when the SMTP server received the agent's email;
5. prints p50/p95/p99 of request -> alert SMS accepted, request -> reply SMS to the lead
   accepted and request -> email received.

Only 127.0.0.1 is contacted; whatever ``.env`` says, no real provider is. It exits 0 with
its figures, 1 with the reason when it could not set up.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ingest import (  # noqa: E402
    FORM_KEY,
    HOST,
    TERRITORY_ZIPS,
    SetupError,
    form_token,
    machine_line,
    port_in_use,
    reset_database,
    server_env,
    start_gunicorn,
    start_qcluster,
    wait_healthy,
)
from bench.loadgen import percentile  # noqa: E402
from bench.servers import session_members  # noqa: E402
from tests.integrations.alerts.twilio_server import twilio_server  # noqa: E402

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "bench-auth-token"  # noqa: S105 - the local server's own
NAME = re.compile(r"Speed (\d+)")
LEAD_PHONE = "+1305556{:04d}"  # lead number n's own mobile: the reply to it is found by To


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Leadline speed to lead: web form -> worker -> routing -> Twilio API.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--broker", choices=["orm", "redis", "both"], default="both")
    parser.add_argument("--leads", type=int, default=200, help="submissions per broker")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between posts")
    parser.add_argument(
        "--warmup", type=int, default=5, help="submissions not counted (the first is reported)"
    )
    parser.add_argument("--port", type=int, default=8210, help="gunicorn's port")
    parser.add_argument("--database", default="leadline_bench_stl", help="dropped and re-created")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--q-workers", type=int, default=2, help="django-q2 worker processes")
    parser.add_argument("--timeout", type=float, default=30.0, help="wait for the last alerts")
    args = parser.parse_args(argv)
    # What bench/ingest.py's helpers read.
    args.settings, args.gunicorn_threads, args.worker_class = "crm.settings", 1, "sync"
    args.server_cpus = args.worker_cpus = None
    if not args.database.startswith("leadline_bench"):
        parser.error("--database must start with leadline_bench: it is dropped first")
    if args.warmup < 1:
        parser.error("--warmup must be at least 1: the first lead after the start is one")
    if not 1024 <= args.port <= 65535:
        parser.error("--port must be a port a user may open (1024-65535)")
    return args


class Arrivals:
    """When the SMS request, the reply to the lead and the email for each lead arrived."""

    def __init__(self) -> None:
        self.sms: dict[int, float] = {}
        self.email: dict[int, float] = {}
        self.reply: dict[int, float] = {}
        self.lock = threading.Lock()

    def record_sms(self, form: dict[str, str]) -> None:
        """An SMS at Twilio: the reply to lead n (to its own number), or an agent's alert."""
        to = form.get("To", "")
        if to.startswith(LEAD_PHONE[:8]) and to[8:].isdigit():
            with self.lock:
                self.reply.setdefault(int(to[8:]), time.monotonic())
            return
        self.record(self.sms, form.get("Body", ""))

    def record(self, kind: dict[int, float], text: str) -> None:
        now = time.monotonic()
        match = NAME.search(text)
        if match:
            with self.lock:
                kind.setdefault(int(match.group(1)), now)


def smtp_server(arrivals: Arrivals) -> tuple[Any, int]:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            arrivals.record(arrivals.email, envelope.content.decode("utf-8", "replace"))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname=HOST, port=port)
    controller.start()
    return controller, port


def post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(
            "POST", f"/forms/{FORM_KEY}/", body, {"Content-Type": "application/json"}
        )
        reply = connection.getresponse()
        reply.read()
        return reply.status
    finally:
        connection.close()


def send_one(args: argparse.Namespace, broker: str, token: str, index: int) -> float:
    """Post lead number ``index``; return when the request left."""
    body = json.dumps({
        "first_name": "Speed", "last_name": f"{index}",
        "email": f"speed-{broker}-{index}@example.com", "phone": LEAD_PHONE.format(index),
        "zip_code": TERRITORY_ZIPS[0], "lead_type": "buyer", "consent": True,
        "message": "Can I see it this weekend?",
        "submission_id": f"stl-{broker}-{index}", "_ts": token,
    }).encode()  # fmt: skip
    started = time.monotonic()
    status = post(args.port, body)
    if status not in (200, 201):
        raise SetupError(f"the form answered {status}")
    return started


def wait_for(arrivals: Arrivals, sent: dict[int, float], timeout: float) -> None:
    """Until every lead sent has its SMS and email, or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (
        set(sent) <= set(arrivals.sms)
        and set(sent) <= set(arrivals.email)
        and set(sent) <= set(arrivals.reply)
    ):
        time.sleep(0.05)


def wait_cluster_running(qcluster: Any, workers: int, timeout: float = 60.0) -> None:
    """Until the cluster's processes are all up (its main process, sentinel, pusher, monitor
    and ``workers`` workers), then one second more: the first lead measures a worker's first
    task, not the cluster's own start."""
    deadline = time.monotonic() + timeout
    while len(session_members(qcluster.pid)) < workers + 4:
        if not qcluster.alive() or time.monotonic() > deadline:
            raise SetupError(f"the cluster did not start:\n{qcluster.tail()}")
        time.sleep(0.05)
    time.sleep(1.0)


def run_broker(broker: str, args: argparse.Namespace, logs: Path) -> dict[str, list[float]]:
    redis = broker == "redis"
    arrivals = Arrivals()
    controller, smtp_port = smtp_server(arrivals)
    gunicorn = qcluster = None
    try:
        with twilio_server(ACCOUNT_SID, AUTH_TOKEN) as (twilio_url, state):
            state.on_request = lambda sent: arrivals.record_sms(sent.form)
            env = {
                **server_env(args, redis=redis),
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_FROM_NUMBER": "+13055550000",
                "TWILIO_API_BASE_URL": twilio_url,
                "EMAIL_URL": f"smtp://{HOST}:{smtp_port}",
                # The instant reply to the lead, at any hour: a benchmark run at night measures
                # the path, not the wait for the lead's morning.
                "LEAD_GREETING_ENABLED": "true",
                "LEAD_SMS_HOURS": "",
            }
            os.environ.update(env)
            reset_database(args, redis)
            gunicorn = start_gunicorn(args, env, logs)
            qcluster = start_qcluster(args, env, logs)
            wait_healthy(args.port, gunicorn)
            wait_cluster_running(qcluster, args.q_workers)
            token = form_token(args.port)
            sent: dict[int, float] = {}
            # The first lead after the start, alone: what a cluster that has just started (or
            # a worker just recycled) costs the first person to ask. Then the warm-up leads,
            # until their alerts arrive, before anything else is measured.
            sent[0] = send_one(args, broker, token, 0)
            wait_for(arrivals, sent, args.timeout)
            for index in range(1, args.warmup):
                sent[index] = send_one(args, broker, token, index)
            wait_for(arrivals, sent, args.timeout)
            for index in range(args.warmup, args.warmup + args.leads):
                started = send_one(args, broker, token, index)
                sent[index] = started
                time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
            wait_for(arrivals, sent, args.timeout)
            if not qcluster.alive():
                raise SetupError(f"the cluster exited:\n{qcluster.tail()}")
    finally:
        for child in (gunicorn, qcluster):
            if child is not None:
                child.stop()
        controller.stop()
    counted = [i for i in sent if i >= args.warmup]
    first = [
        (arrivals.sms[0] - sent[0]) * 1000 if 0 in arrivals.sms else float("nan"),
        (arrivals.email[0] - sent[0]) * 1000 if 0 in arrivals.email else float("nan"),
        (arrivals.reply[0] - sent[0]) * 1000 if 0 in arrivals.reply else float("nan"),
    ]
    return {
        "first": first,
        "sms": [(arrivals.sms[i] - sent[i]) * 1000 for i in counted if i in arrivals.sms],
        "email": [(arrivals.email[i] - sent[i]) * 1000 for i in counted if i in arrivals.email],
        "reply": [(arrivals.reply[i] - sent[i]) * 1000 for i in counted if i in arrivals.reply],
        "missing_sms": [float(len([i for i in counted if i not in arrivals.sms]))],
        "missing_email": [float(len([i for i in counted if i not in arrivals.email]))],
        "missing_reply": [float(len([i for i in counted if i not in arrivals.reply]))],
    }


def line(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:<28} no samples"
    cells = [percentile(values, p) for p in (0.5, 0.95, 0.99)]
    return f"  {label:<28} p50 {cells[0]:7.1f} ms  p95 {cells[1]:7.1f} ms  p99 {cells[2]:7.1f} ms  (n={len(values)})"  # noqa: E501


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if port_in_use(args.port):
        print(f"port {args.port} is already in use on {HOST}", file=sys.stderr)
        return 1
    os.environ.update(server_env(args, redis=False))
    import django

    django.setup()
    print(f"Leadline speed to lead: {machine_line()}")
    print(f"{args.leads} web-form leads per broker, {args.interval:.2f} s apart")
    logs = Path(tempfile.mkdtemp(prefix="leadline-bench-stl-"))
    brokers = ["orm", "redis"] if args.broker == "both" else [args.broker]
    try:
        for broker in brokers:
            result = run_broker(broker, args, logs)
            print(f"{broker.upper()} broker:")
            print(line("request -> SMS at Twilio", result["sms"]))
            print(line("request -> reply SMS to lead", result["reply"]))
            print(line("request -> email at SMTP", result["email"]))
            sms, email, reply = result["first"]
            print(
                f"  first lead after the start    SMS {sms:7.1f} ms  reply {reply:7.1f} ms"
                f"  email {email:7.1f} ms"
            )
            missing = [int(result[f"missing_{k}"][0]) for k in ("sms", "reply", "email")]
            print(
                f"  missing after {args.timeout:.0f} s: {missing[0]} SMS, {missing[1]} replies,"
                f" {missing[2]} emails"
            )
    except SetupError as exc:
        print(f"benchmark could not run: {exc}\nlogs: {logs}", file=sys.stderr)
        return 1
    print(f"server and worker logs: {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
