"""Operations' view of a running Leadline: ``/healthz``, ``/readyz`` and ``/metrics``.

- ``/readyz`` is for the load balancer: the database answers, so a request can be stored and
  answered (nothing a sender waits for needs Redis or a worker).
- ``/healthz`` is for the monitor: the database, the queue's broker, and the pipeline. The
  pipeline fails when the oldest inbound event waiting to be processed, or the oldest alert
  or webhook delivery that is due, has waited longer than ``HEALTHZ_MAX_WAIT_SECONDS``:
  with every worker dead, requests are still answered but nothing moves, and this says so.
- ``/metrics`` is the same picture in Prometheus' text format, with the counts behind it
  (queue depth, waiting and failed events per source, alerts and webhook deliveries by
  state, leads per source), for a bearer token (``METRICS_TOKEN``) or a signed-in staff user.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from integrations.alerts.faults import sending_faults_open
from integrations.alerts.selectors import alerts_by_channel_and_status, oldest_due_alert_at
from integrations.intake.selectors import events_by_source_and_status, oldest_pending_event_at
from integrations.webhooks.selectors import deliveries_by_status, oldest_due_delivery_at
from leads.selectors import leads_by_source

# What waits in the pipeline, and since when it has waited (each a selector of its app).
WAITING: dict[str, Callable[..., dt.datetime | None]] = {
    "inbound_event": oldest_pending_event_at,
    "agent_alert": oldest_due_alert_at,
    "webhook_delivery": oldest_due_delivery_at,
}


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def _queue() -> tuple[str, int | None]:
    """The broker's answer, and how many tasks wait in it (None when it cannot say)."""
    try:
        from django_q.brokers import get_broker

        broker = get_broker()
        if not broker.ping():
            return "error: broker did not answer", None
        return "ok", int(broker.queue_size() or 0)
    except Exception as exc:
        return f"error: {type(exc).__name__}", None


def waits(now: dt.datetime) -> dict[str, float | None]:
    """For each kind of row that waits, how long (seconds) the oldest has waited."""
    ages: dict[str, float | None] = {}
    for kind, since in WAITING.items():
        at = since(now=now)
        ages[kind] = max(0.0, round((now - at).total_seconds(), 3)) if at else None
    return ages


def _pipeline(ages: dict[str, float | None]) -> str:
    limit = settings.HEALTHZ_MAX_WAIT_SECONDS
    late = [f"{kind} waiting {age:.0f} s" for kind, age in ages.items() if age and age > limit]
    return f"error: {', '.join(late)} (limit {limit} s)" if late else "ok"


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """For the load balancer: this instance can store and answer a request."""
    database = _database()
    healthy = database == "ok"
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": {"database": database}},
        status=200 if healthy else 503,
    )


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For the monitor: the database, the broker and the pipeline (the oldest waits)."""
    checks = {"database": _database()}
    checks["queue"], depth = _queue()
    ages: dict[str, float | None] = {}
    if checks["database"] == "ok":
        ages = waits(timezone.now())
        checks["pipeline"] = _pipeline(ages)
    healthy = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {
        "status": "ok" if healthy else "error",
        "checks": checks,
        "queue_depth": depth,
        "oldest_wait_seconds": ages,
        "max_wait_seconds": settings.HEALTHZ_MAX_WAIT_SECONDS,
        "warnings": sending_faults() if checks["database"] == "ok" else [],
    }
    return JsonResponse(body, status=200 if healthy else 503)


def sending_faults() -> list[str]:
    """What stops a channel sending (credentials, an unregistered sender): for people, not
    the status, so a monitor is told without the instance being taken out of service."""
    return [
        f"{fault.channel} {fault.code} since {fault.first_seen_at.isoformat()}: "
        f"{fault.message} ({fault.occurrences}x, {fault.where})"
        for fault in sending_faults_open(limit=20)
    ]


def metrics_allowed(request: HttpRequest) -> bool:
    """A staff user signed in, or ``Authorization: Bearer <METRICS_TOKEN>`` (in constant time)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    expected = settings.METRICS_TOKEN
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def _label(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return f'"{text}"'


class Exposition:
    """Prometheus' text exposition format (version 0.0.4): HELP, TYPE, then the samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        help_text: str,
        samples: Iterable[tuple[dict[str, object], float | None]],
        kind: str = "gauge",
    ) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            if value is None:
                continue
            inside = ",".join(f"{key}={_label(v)}" for key, v in sorted(labels.items()))
            self.lines.append(f"{name}{{{inside}}} {value:g}" if inside else f"{name} {value:g}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """``/metrics``: the pipeline's state in Prometheus' text format (docs/operations.md)."""
    if not metrics_allowed(request):
        response = HttpResponse("A bearer token (METRICS_TOKEN) or a staff sign-in.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    now = timezone.now()
    out = Exposition()
    queue, depth = _queue()
    out.family("leadline_up", "1: the database answers.", [({}, float(_database() == "ok"))])
    out.family("leadline_queue_up", "1: the queue's broker answers.", [({}, float(queue == "ok"))])
    out.family("leadline_queue_depth", "Tasks waiting in the queue's broker.", [({}, depth)])
    out.family(
        "leadline_oldest_wait_seconds",
        "How long the oldest waiting row has waited: an inbound event not yet processed, "
        "an agent alert or a webhook delivery that is due (0 when none waits).",
        [({"kind": kind}, age or 0.0) for kind, age in waits(now).items()],
    )
    out.family(
        "leadline_inbound_events",
        "Inbound events waiting to be processed (received) or failed, per source.",
        [
            ({"source": source, "status": status}, n)
            for (source, status), n in sorted(events_by_source_and_status().items())
        ],
    )
    out.family(
        "leadline_agent_alerts",
        "Agent alerts per channel and status.",
        [
            ({"channel": channel, "status": status}, n)
            for (channel, status), n in sorted(alerts_by_channel_and_status().items())
        ],
    )
    out.family(
        "leadline_webhook_deliveries",
        "Outbound webhook deliveries per status.",
        [({"status": status}, n) for status, n in sorted(deliveries_by_status().items())],
    )
    out.family(
        "leadline_leads",
        "Leads per source, all time.",
        [({"source": source}, n) for source, n in sorted(leads_by_source().items())],
    )
    return HttpResponse(out.text(), content_type="text/plain; version=0.0.4; charset=utf-8")
