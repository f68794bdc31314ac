"""Signing our events as Standard Webhooks: https://www.standardwebhooks.com/.

The signed content is ``{id}.{timestamp}.{body}``; the key is the secret after ``whsec_``,
base64-decoded; the ``webhook-signature`` header is ``v1,`` and the base64 HMAC-SHA256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header: ``v1,`` and the base64 HMAC-SHA256 of
    ``{message_id}.{timestamp}.{body}`` keyed with the decoded secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
