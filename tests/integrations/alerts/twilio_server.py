"""A small Twilio REST API on a local port, for the real ``twilio`` client to talk to.

It answers ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` as Twilio documents:
HTTP Basic with the account SID and auth token, a form-encoded body, a ``201`` with the
Message resource, and errors in Twilio's JSON shape (``code``, ``message``, ``more_info``,
``status``). Tests queue the answers they want (``fail``) and read what was sent (``sent``).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ERRORS = {
    20003: (401, "Authenticate"),
    20429: (429, "Too Many Requests"),
    21211: (400, "The 'To' number +1555 is not a valid phone number."),
    21408: (400, "Permission to send an SMS has not been enabled for the region indicated."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
}


@dataclass
class Sent:
    path: str
    auth: str
    form: dict[str, str]


@dataclass
class TwilioState:
    account_sid: str
    auth_token: str
    sent: list[Sent] = field(default_factory=list)
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    on_request: Callable[[Sent], None] | None = None  # told of each request as it arrives

    def fail(self, code: int, times: int = 1) -> None:
        """Answer the next ``times`` sends with Twilio's error ``code``."""
        status, message = ERRORS.get(code, (500, "Internal Server Error"))
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        self.answers.extend([(status, body)] * times)

    def fail_http(self, status: int, times: int = 1) -> None:
        """Answer with a bare HTTP error (a proxy's 503, say), no Twilio code."""
        self.answers.extend(
            [(status, {"message": "Service Unavailable", "status": status})] * times
        )


def _message(state: TwilioState, form: dict[str, str]) -> dict[str, Any]:
    sid = "SM" + secrets.token_hex(16)
    return {
        "sid": sid,
        "account_sid": state.account_sid,
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "from": form.get("From"),
        "to": form.get("To"),
        "body": form.get("Body"),
        "status": "accepted" if form.get("MessagingServiceSid") else "queued",
        "direction": "outbound-api",
        "num_segments": "1",
        "num_media": "0",
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "date_created": "Mon, 30 Nov 2026 10:00:00 +0000",
        "date_sent": None,
        "date_updated": "Mon, 30 Nov 2026 10:00:00 +0000",
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{state.account_sid}/Messages/{sid}.json",
        "subresource_uris": {},
    }


def _handler(state: TwilioState) -> type[BaseHTTPRequestHandler]:
    expected = (
        "Basic " + base64.b64encode(f"{state.account_sid}:{state.auth_token}".encode()).decode()
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            auth = self.headers.get("Authorization", "")
            state.sent.append(Sent(self.path, auth, form))
            if state.on_request is not None:
                state.on_request(state.sent[-1])
            if self.path != f"/2010-04-01/Accounts/{state.account_sid}/Messages.json":
                return self._send(404, {"code": 20404, "message": "Not found", "status": 404})
            if auth != expected:
                return self._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
            if state.answers:
                return self._send(*state.answers.pop(0))
            return self._send(201, _message(state, form))

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def twilio_server(account_sid: str, auth_token: str) -> Iterator[tuple[str, TwilioState]]:
    """Run the server on a free port; yield its base URL and its state."""
    state = TwilioState(account_sid, auth_token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
