"""The ``leadgen`` webhook's body: its signature (``X-Hub-Signature-256``), its changes, ids.

Docs: developers.facebook.com/docs/graph-api/webhooks/getting-started (verification,
``X-Hub-Signature-256``, retries).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from leads.inputs import InputError, check_id, read_json

KEY = "facebook"
# Facebook sends up to 1000 changes in one POST; this is several times that.
MAX_BODY_BYTES = 2 * 1024 * 1024


class Malformed(Exception):
    """A signed body that is not a webhook we can read; the message names the problem."""


@dataclass(frozen=True)
class Change:
    entry: dict[str, Any]
    change: dict[str, Any]

    @property
    def value(self) -> dict[str, Any]:
        value: dict[str, Any] = self.change["value"]
        return value

    def envelope(self) -> bytes:
        """This one change in the shape Facebook sends, as the event's raw body."""
        entry = {k: v for k, v in self.entry.items() if k != "changes"}
        body = {"object": "page", "entry": [{**entry, "changes": [self.change]}]}
        return json.dumps(body, separators=(",", ":")).encode()


def read_changes(body: bytes) -> tuple[list[Change], list[Change]]:
    """Split a webhook body into its ``leadgen`` changes and the others.

    Raises ``Malformed`` for a body that is not JSON in Facebook's shape, or a ``leadgen``
    change without ``leadgen_id`` or ``page_id``.
    """
    try:
        payload = read_json(body)
    except InputError as exc:
        raise Malformed(exc.message) from exc
    if not isinstance(payload, dict):
        raise Malformed("The body must be a JSON object with 'object' and 'entry'.")
    entries = payload.get("entry")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise Malformed("'entry' must be a list of objects.")
    leadgen: list[Change] = []
    others: list[Change] = []
    for entry in entries:
        changes = entry.get("changes", [])
        if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
            raise Malformed("'entry[].changes' must be a list of objects.")
        for change in changes:
            if payload.get("object") == "page" and change.get("field") == "leadgen":
                _check_leadgen(change.get("value"))
                leadgen.append(Change(entry, change))
            else:
                others.append(Change(entry, change))
    return leadgen, others


def _check_leadgen(value: Any) -> None:
    if not isinstance(value, dict):
        raise Malformed("A leadgen change must have a 'value' object.")
    for name in ("leadgen_id", "page_id"):
        if not facebook_id(value.get(name)):
            raise Malformed(f"A leadgen change has no '{name}'.")
        try:
            check_id(facebook_id(value.get(name)), name)
        except InputError as exc:
            raise Malformed(exc.message) from exc


def facebook_id(value: Any) -> str:
    """Facebook's ids arrive as numbers (older payloads) or strings; '0' means none."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return ""
    text = str(value).strip()
    return "" if text in ("", "0") else text


def signature_valid(body: bytes, header: str) -> bool:
    """``X-Hub-Signature-256`` is ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    secret = settings.FACEBOOK_APP_SECRET
    if not secret or not header:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())
