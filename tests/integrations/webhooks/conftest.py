"""A real local receiver of our webhooks, a subscription to it, and a lead to tell it of."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from integrations.webhooks.models import WebhookSubscription
from leads.data import LeadData
from leads.models import Lead
from leads.services import lead_capture


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answers: deque[int] = deque()  # statuses to answer, then 200
        self.server = self._bind()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadline"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _bind(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answers.popleft() if receiver.answers else 200
                reply = json.dumps({"ok": status < 300, "note": "x" * 600}).encode()
                self.send_response(status)
                if status == 307:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                return

        for port in range(8800, 8900):
            try:
                return ThreadingHTTPServer(("127.0.0.1", port), Handler)
            except OSError:
                continue
        raise RuntimeError("no free port in 8800-8899")

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, body in self.requests]

    def events(self) -> list[str]:
        return [payload["type"] for payload in self.payloads()]


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.05
    settings.WEBHOOK_RETRY_MAX_SECONDS = 0.2
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def subscription(receiver, team) -> WebhookSubscription:
    return WebhookSubscription.objects.create(name="Back office", url=receiver.url, team=team)


def capture(team, email: str = "dana@example.com", zip_code: str = "33139") -> Lead:
    data = LeadData(
        source="webform",
        external_id=f"test:{email}:{zip_code}",
        received_at=timezone.now(),
        team_id=team.pk,
        first_name="Dana",
        email=email,
        property_zip=zip_code,
    )
    return lead_capture(data=data).lead


def verified(subscription: WebhookSubscription, request: tuple[dict[str, str], bytes]) -> dict:
    headers, body = request
    payload: dict = Webhook(subscription.secret).verify(body, headers)
    return payload
