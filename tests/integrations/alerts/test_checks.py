"""The Web Push settings' system checks: a VAPID pair that cannot sign, or whose halves do
not belong together, stops ``manage.py check`` with the setting's name and the way out."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from integrations.alerts.push import vapid_keys

# Other apps' checks read the database (intake's portals and teams).
pytestmark = pytest.mark.django_db


def alerts_checks() -> list[tuple[str, str, str]]:
    """What the registered checks say about the alerts settings: (id, message, hint)."""
    return [
        (m.id or "", m.msg, m.hint or "")
        for m in run_checks()
        if (m.id or "").startswith("alerts.")
    ]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_pair_from_the_command_passes_and_so_does_no_pair(settings):
    settings.WEBPUSH_VAPID_PUBLIC_KEY, settings.WEBPUSH_VAPID_PRIVATE_KEY = vapid_keys()
    assert alerts_checks() == []
    settings.WEBPUSH_VAPID_PUBLIC_KEY = settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    assert alerts_checks() == []  # push is off, nothing to say


def test_a_public_key_of_another_pair_stops_the_check_naming_both_settings(settings):
    settings.WEBPUSH_VAPID_PUBLIC_KEY, _ = vapid_keys()
    _, settings.WEBPUSH_VAPID_PRIVATE_KEY = vapid_keys()
    [(check_id, message, hint)] = alerts_checks()
    assert check_id == "alerts.E103"
    assert "WEBPUSH_VAPID_PUBLIC_KEY is not the public key of WEBPUSH_VAPID_PRIVATE_KEY" in message
    assert "manage.py webpush_keys" in hint
    with pytest.raises(SystemCheckError, match=r"alerts\.E103"):
        call_command("check")


@pytest.mark.parametrize(
    "private",
    [
        "not-a-key",
        b64url(b"\x00" * 32),  # zero is no P-256 secret
        b64url(b"\xff" * 32),  # nor is a number past the curve's order
        b64url(
            rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),  # a key, but RSA
    ],
    ids=["text", "zero", "past-the-order", "rsa"],
)
def test_a_private_key_that_cannot_sign_is_an_error_naming_it(settings, private):
    settings.WEBPUSH_VAPID_PUBLIC_KEY, _ = vapid_keys()
    settings.WEBPUSH_VAPID_PRIVATE_KEY = private
    [(check_id, message, hint)] = alerts_checks()
    assert check_id == "alerts.E101"
    assert message.startswith("WEBPUSH_VAPID_PRIVATE_KEY is not a VAPID private key")
    assert "manage.py webpush_keys" in hint


@pytest.mark.parametrize("public", ["not a key!", b64url(b"\x04" + b"\x01" * 31), "A" * 87])
def test_a_public_key_that_is_no_p256_point_is_an_error_naming_it(settings, public):
    _, settings.WEBPUSH_VAPID_PRIVATE_KEY = vapid_keys()
    settings.WEBPUSH_VAPID_PUBLIC_KEY = public
    [(check_id, message, hint)] = alerts_checks()
    assert check_id == "alerts.E102"
    assert message.startswith("WEBPUSH_VAPID_PUBLIC_KEY is not a VAPID public key")
    assert "manage.py webpush_keys" in hint


def test_a_pair_written_another_way_is_still_the_pair(settings):
    """A DER private key, and the public key padded in standard base64: what other tools
    print, and what pywebpush and browsers take."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    settings.WEBPUSH_VAPID_PRIVATE_KEY = b64url(der)
    settings.WEBPUSH_VAPID_PUBLIC_KEY = base64.b64encode(point).decode()
    assert alerts_checks() == []


def test_half_a_pair_is_a_warning_that_push_stays_off(settings):
    settings.WEBPUSH_VAPID_PUBLIC_KEY, _ = vapid_keys()
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    [(check_id, message, hint)] = alerts_checks()
    assert check_id == "alerts.W101"
    assert "WEBPUSH_VAPID_PRIVATE_KEY is not" in message
    assert "Web Push stays off" in message
    assert "manage.py webpush_keys" in hint


def test_a_contact_push_services_refuse_is_an_error(settings):
    settings.WEBPUSH_VAPID_PUBLIC_KEY, settings.WEBPUSH_VAPID_PRIVATE_KEY = vapid_keys()
    settings.WEBPUSH_CONTACT = "ops@example.com"
    [(check_id, message, _)] = alerts_checks()
    assert check_id == "alerts.E104"
    assert "WEBPUSH_CONTACT 'ops@example.com'" in message
