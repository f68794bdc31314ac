"""Secrets we must keep but never show (a Facebook Page's access token), encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) keyed from the
``FIELD_ENCRYPTION_KEY`` setting: one or more Fernet keys, comma-separated, the first used to
encrypt and all tried to decrypt, so a key can be rotated without losing stored tokens. When
it is unset, one key is derived from ``SECRET_KEY`` with HKDF, so a fresh install works; but
then rotating ``SECRET_KEY`` makes stored tokens unreadable (the page asks to be
re-authorised), which is why production should set its own key.
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

HKDF_INFO = b"leadline field encryption"


class DecryptionError(Exception):
    """The stored value was encrypted with a key we no longer have (or was tampered with)."""


def _derived_key(secret_key: str) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


@cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if keys:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    return MultiFernet([Fernet(_derived_key(secret_key))])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEY), settings.SECRET_KEY)


def encrypt(value: str) -> str:
    """Return ``value`` encrypted with the first key, as URL-safe text."""
    return _current().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """Return the plain text of ``token``; raise ``DecryptionError`` if no key opens it."""
    try:
        return _current().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise DecryptionError(
            "The stored secret cannot be decrypted with the current keys."
        ) from exc
