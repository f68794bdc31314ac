"""A small Graph API on a local port, speaking the shapes Facebook documents.

Objects (leads, forms) are read by id, a page's ``leadgen_forms`` and a form's ``leads`` are
edges with cursor paging (``paging.cursors`` and an absolute ``paging.next``) and the
``time_created`` filtering, and errors come in Facebook's envelope
(``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``). Every call must
carry a known access token and its ``appsecret_proof``, as Facebook checks them; the token in
an ``Authorization: OAuth <token>`` (or ``Bearer``) header or an ``access_token`` parameter,
both of which Facebook accepts. ``tokens_by`` records how each call carried it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

VERSION = "v25.0"


@dataclass
class GraphState:
    app_secret: str
    tokens: set[str] = field(default_factory=set)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    page_forms: dict[str, list[str]] = field(default_factory=dict)
    form_leads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # path -> error answers (status, body) given, in order, before the path answers again.
    failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    page_size: int = 2
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # For each call: ("header", token) or ("query", token).
    tokens_by: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, path: str, error: dict[str, Any], status: int = 400, times: int = 1) -> None:
        self.failures.setdefault(path, []).extend([(status, error)] * times)


def _error(message: str, code: int, kind: str = "OAuthException") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "Atest"}}


def _handler(state: GraphState, base_url: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            prefix = f"/{VERSION}/"
            if not parts.path.startswith(prefix):
                return self._send(400, _error("Unknown path components", 2500, "OAuthException"))
            path = parts.path[len(prefix) :].strip("/")
            state.calls.append((path, params))
            scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() in ("oauth", "bearer") and credentials:
                token = credentials.strip()
                state.tokens_by.append(("header", token))
            else:
                token = params.get("access_token", "")
                state.tokens_by.append(("query", token))
            if token not in state.tokens:
                return self._send(400, _error("Error validating access token: invalid.", 190))
            proof = hmac.new(state.app_secret.encode(), token.encode(), hashlib.sha256)
            if params.get("appsecret_proof") != proof.hexdigest():
                return self._send(400, _error("Invalid appsecret_proof provided", 100))
            queued = state.failures.get(path)
            if queued:
                status, body = queued.pop(0)
                return self._send(status, body)
            return self._answer(path, params)

        def _answer(self, path: str, params: dict[str, str]) -> None:
            head, _, edge = path.partition("/")
            if edge == "leadgen_forms":
                forms = [state.objects[f] for f in state.page_forms.get(head, [])]
                return self._send(200, self._paged(path, params, forms))
            if edge == "leads":
                leads = list(self._filtered(state.form_leads.get(head, []), params))
                return self._send(200, self._paged(path, params, leads))
            if not edge and head in state.objects:
                return self._send(200, state.objects[head])
            message = f"Unsupported get request. Object with ID '{head}' does not exist."
            return self._send(400, _error(message, 100, "GraphMethodException"))

        @staticmethod
        def _filtered(leads: list[dict[str, Any]], params: dict[str, str]) -> Iterator[dict]:
            after = None
            for rule in json.loads(params.get("filtering", "[]")):
                if rule["field"] == "time_created" and rule["operator"] == "GREATER_THAN":
                    after = int(rule["value"])
            for lead in leads:
                if after is None or _unix(lead["created_time"]) > after:
                    yield lead

        @staticmethod
        def _paged(path: str, params: dict[str, str], items: list[Any]) -> dict[str, Any]:
            start = int(params.get("after", "0"))
            chunk = items[start : start + state.page_size]
            body: dict[str, Any] = {
                "data": chunk,
                "paging": {"cursors": {"before": str(start), "after": str(start + len(chunk))}},
            }
            if start + len(chunk) < len(items):
                query = {**params, "after": str(start + len(chunk))}
                query.pop("appsecret_proof", None)
                body["paging"]["next"] = f"{base_url}/{VERSION}/{path}?{urlencode(query)}"
            return body

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _unix(created_time: str) -> int:
    import datetime as dt

    return int(dt.datetime.strptime(created_time, "%Y-%m-%dT%H:%M:%S%z").timestamp())


class GraphServer:
    """Run the Graph API in a thread; ``url`` is its base, for ``FACEBOOK_GRAPH_API_URL``."""

    def __init__(self, app_secret: str) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.state = GraphState(app_secret=app_secret)
        self.httpd.RequestHandlerClass = _handler(self.state, self.url)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> GraphServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
