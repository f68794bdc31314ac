"""A local push service, as browsers' push services speak (RFC 8030, 8291, 8292).

It takes ``POST /push/<device>`` and answers 201 with a ``Location`` (the message), after
checking what a real one checks: the VAPID ``Authorization: vapid t=<JWT>, k=<key>`` (an
ES256 JWT signed by that key, for this origin, not expired and at most 24 hours ahead,
with a ``sub`` contact), ``Content-Encoding: aes128gcm`` and a ``TTL``. A request that
fails a check gets 401 or 400, with the reason kept. A device can be told to answer
otherwise (410 gone, 404, 429, 500, 403) to exercise each branch. The encrypted bodies are
kept for the test to decrypt with the device's own private key.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Push:
    device: str
    body: bytes
    headers: dict[str, str]
    claims: dict[str, Any]


@dataclass
class PushState:
    origin: str = ""
    vapid_public_key: str = ""  # the key every push must be signed with (base64url)
    pushes: list[Push] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why requests were refused
    answer: dict[str, int] = field(default_factory=dict)  # device -> status to answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, device: str) -> list[Push]:
        return [push for push in self.pushes if push.device == device]


def check_vapid(authorization: str, state: PushState) -> dict[str, Any]:
    """The JWT's claims when ``authorization`` is a valid VAPID header; ValueError if not."""
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError(f"scheme {scheme!r} is not vapid")
    values = dict(part.strip().split("=", 1) for part in params.split(","))
    token, key = values["t"], values["k"]
    if key != state.vapid_public_key:
        raise ValueError("k is not the application server's key")
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    if header.get("alg") != "ES256":
        raise ValueError(f"alg {header.get('alg')!r}")
    signature = b64url_decode(signature_b64)
    if len(signature) != 64:
        raise ValueError("an ES256 signature is 64 bytes (r and s)")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise ValueError("the JWT's signature does not verify with k") from exc
    claims = json.loads(b64url_decode(claims_b64))
    if claims.get("aud") != state.origin:
        raise ValueError(f"aud {claims.get('aud')!r} is not {state.origin!r}")
    now = time.time()
    if not now < int(claims.get("exp", 0)) <= now + 24 * 3600:
        raise ValueError("exp is past or more than 24 hours ahead")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise ValueError("sub is not a mailto: or https: contact")
    return claims


class Handler(BaseHTTPRequestHandler):
    state: PushState

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, text: str = "", location: str = "") -> None:
        body = text.encode()
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        state = self.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not self.path.startswith("/push/"):
            self._answer(404, "no such subscription")
            return
        device = self.path.removeprefix("/push/")
        try:
            claims = check_vapid(self.headers.get("Authorization", ""), state)
        except (ValueError, KeyError) as exc:
            with state.lock:
                state.refused.append(f"401 {device}: {exc}")
            self._answer(401, str(exc))
            return
        reason = ""
        if self.headers.get("Content-Encoding") != "aes128gcm":
            reason = "Content-Encoding is not aes128gcm"
        elif not self.headers.get("TTL", "").isdigit():
            reason = "TTL missing"
        elif len(body) > 4096:
            reason = "payload larger than 4096 bytes"
        if reason:
            with state.lock:
                state.refused.append(f"400 {device}: {reason}")
            self._answer(400, reason)
            return
        status = state.answer.get(device, 201)
        if status != 201:
            self._answer(status, "as told")
            return
        with state.lock:
            state.pushes.append(Push(device, body, dict(self.headers.items()), claims))
            number = len(state.pushes)
        self._answer(201, location=f"{state.origin}/message/{number}")


@contextmanager
def push_server() -> Iterator[PushState]:
    state = PushState()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
