"""A local stand-in for Twilio, for the demo (``make run FAKE_TWILIO=1``): never a real one.

``manage.py fake_twilio`` serves Twilio's ``POST /2010-04-01/Accounts/{sid}/Messages.json``
on 127.0.0.1 (Basic auth with ``TWILIO_ACCOUNT_SID``/``TWILIO_AUTH_TOKEN``, a form body, a
``201`` with the Message), prints each text it is asked to send, and a moment later posts
its ``delivered`` status to the message's ``StatusCallback``, signed with the auth token as
Twilio signs (``X-Twilio-Signature``).

``manage.py fake_twilio --text +13055551234 "Is it still available?"`` is a person texting
the team's number: a signed post to ``SITE_URL/hooks/twilio/inbound/``; the answer (TwiML)
is printed.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import Request, urlopen

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator


def _signed_post(url: str, params: dict[str, str]) -> tuple[int, str]:
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        raise CommandError(f"The fake posts only to this machine, not {url}.")
    request = Request(  # noqa: S310 - a local URL, checked above
        url, data=urlencode(params).encode(), method="POST",
        headers={"X-Twilio-Signature": signature,
                 "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    with urlopen(request, timeout=10) as answer:  # noqa: S310
        return answer.status, answer.read().decode()


class Command(BaseCommand):
    help = "Run a local fake of Twilio's Messages API for the demo, or text as a lead."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument("--text", nargs=2, metavar=("FROM", "BODY"))

    def handle(self, *args: Any, port: int, text: list[str] | None, **options: Any) -> None:
        if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
            raise CommandError("Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (any values).")
        if text:
            phone, body = text
            params = {
                "MessageSid": "SM" + secrets.token_hex(16),
                "AccountSid": settings.TWILIO_ACCOUNT_SID,
                "From": phone,
                "To": settings.TWILIO_FROM_NUMBER,
                "Body": body,
                "NumMedia": "0",
                "NumSegments": "1",
                "SmsStatus": "received",
                "ApiVersion": "2010-04-01",
            }
            status, answer = _signed_post(settings.SITE_URL + "/hooks/twilio/inbound/", params)
            self.stdout.write(f"{status} {answer}")
            return
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.stdout.write(f"Fake Twilio on http://127.0.0.1:{port} (texts print here)")
        server.serve_forever()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sid = settings.TWILIO_ACCOUNT_SID
        expected = (
            "Basic " + base64.b64encode(f"{sid}:{settings.TWILIO_AUTH_TOKEN}".encode()).decode()
        )
        write = self.stdout.write

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path != f"/2010-04-01/Accounts/{sid}/Messages.json":
                    return self._send(404, {"code": 20404, "message": "Not found", "status": 404})
                if not hmac.compare_digest(self.headers.get("Authorization", ""), expected):
                    return self._send(
                        401, {"code": 20003, "message": "Authenticate", "status": 401}
                    )
                message_sid = "SM" + secrets.token_hex(16)
                write(f"SMS to {form.get('To')}: {form.get('Body')}")
                self._send(201, {
                    "sid": message_sid, "account_sid": sid, "to": form.get("To"),
                    "from": form.get("From"), "body": form.get("Body"), "status": "queued",
                    "direction": "outbound-api", "num_segments": "1", "num_media": "0",
                    "error_code": None, "error_message": None, "api_version": "2010-04-01",
                    "messaging_service_sid": form.get("MessagingServiceSid"),
                    "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
                })  # fmt: skip
                callback = form.get("StatusCallback")
                if callback:
                    threading.Thread(
                        target=_deliver, args=(callback, message_sid, form), daemon=True
                    ).start()

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def _deliver(callback: str, message_sid: str, form: dict[str, str]) -> None:
            time.sleep(1.0)
            params = {
                "MessageSid": message_sid, "SmsSid": message_sid, "MessageStatus": "delivered",
                "SmsStatus": "delivered", "AccountSid": sid, "From": form.get("From", ""),
                "To": form.get("To", ""), "ApiVersion": "2010-04-01",
            }  # fmt: skip
            try:
                status, _ = _signed_post(callback, params)
                write(f"  delivered -> {callback} ({status})")
            except Exception as exc:
                write(f"  status callback failed: {exc}")

        return Handler
