"""System checks of the Web Push settings: a VAPID key pair that cannot sign, or whose halves
do not belong together, says so at start-up rather than as every push refused.

A public key that is not the private key's own is the costly mistake: browsers subscribe
with the public key the settings page hands them, the server signs with the private one,
and the push services answer 401/403 to every push (a sending fault) until the pair is
mended and every agent turns notifications on again.
"""

from __future__ import annotations

import binascii
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

MAKE_A_PAIR = "Make a new pair with `manage.py webpush_keys` and set both."


def _b64url(text: str) -> bytes:
    """base64url, padded or not (standard base64's ``+`` and ``/`` taken too, as browsers'
    ``atob`` does for the public key)."""
    import base64

    text = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_problems(public: str, private: str) -> list[CheckMessage]:
    """What is wrong with this VAPID pair (nothing when both are unset: push is off)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from py_vapid import Vapid

    if not public and not private:
        return []
    if not (public and private):
        given, missing = (
            ("WEBPUSH_VAPID_PUBLIC_KEY", "WEBPUSH_VAPID_PRIVATE_KEY")
            if public
            else ("WEBPUSH_VAPID_PRIVATE_KEY", "WEBPUSH_VAPID_PUBLIC_KEY")
        )
        return [
            Warning(
                f"{given} is set but {missing} is not: Web Push stays off until both are.",
                hint=MAKE_A_PAIR,
                id="alerts.W101",
            )
        ]
    try:
        key = Vapid.from_string(private).private_key
        if not (
            isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
        ):
            raise ValueError("not a P-256 key")
    except (ValueError, TypeError, binascii.Error):
        return [
            Error(
                "WEBPUSH_VAPID_PRIVATE_KEY is not a VAPID private key (a P-256 key: its 32-byte "
                "secret as base64url, or DER).",
                hint=MAKE_A_PAIR,
                id="alerts.E101",
            )
        ]
    own = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    try:
        given_point = _b64url(public)
    except (ValueError, binascii.Error):
        given_point = b""
    if len(given_point) != 65 or given_point[0] != 4:
        return [
            Error(
                "WEBPUSH_VAPID_PUBLIC_KEY is not a VAPID public key (a P-256 point, 65 bytes "
                "uncompressed, as base64url).",
                hint=MAKE_A_PAIR,
                id="alerts.E102",
            )
        ]
    if given_point != own:
        return [
            Error(
                "WEBPUSH_VAPID_PUBLIC_KEY is not the public key of WEBPUSH_VAPID_PRIVATE_KEY: "
                "push services would refuse every push.",
                hint=MAKE_A_PAIR + " Devices turned on with the old public key must be "
                "turned on again.",
                id="alerts.E103",
            )
        ]
    return []


@register()
def check_webpush_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems = vapid_problems(settings.WEBPUSH_VAPID_PUBLIC_KEY, settings.WEBPUSH_VAPID_PRIVATE_KEY)
    contact = settings.WEBPUSH_CONTACT
    if (settings.WEBPUSH_VAPID_PUBLIC_KEY or settings.WEBPUSH_VAPID_PRIVATE_KEY) and not (
        contact.startswith(("mailto:", "https://"))
    ):
        problems.append(
            Error(
                f"WEBPUSH_CONTACT {contact!r} is not a mailto: or https: address: push "
                "services refuse VAPID claims without one.",
                id="alerts.E104",
            )
        )
    return problems
