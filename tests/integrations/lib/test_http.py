"""The one outbound seam: redirects are not followed unless a caller asks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from integrations.lib import http


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[str]]]:
    """``/checked`` redirects to ``/elsewhere``; yields the base URL and the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            asked.append(self.path)
            if self.path == "/checked":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_returned_not_followed(redirecting):
    base, asked = redirecting
    response = http.request("GET", f"{base}/checked")
    assert response.status_code == 302
    assert asked == ["/checked"]  # the other host (here, path) was never asked


def test_a_caller_may_follow_redirects_when_nothing_secret_is_sent(redirecting):
    base, asked = redirecting
    response = http.request("GET", f"{base}/checked", follow_redirects=True)
    assert (response.status_code, response.text) == (200, "ok")
    assert asked == ["/checked", "/elsewhere"]
