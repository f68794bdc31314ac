"""Normalising the keys a person is recognised by: email addresses, phone numbers, and the
folded form of names that search matches."""

from __future__ import annotations

import unicodedata

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# The longest address SMTP can carry (RFC 5321's 256-octet path, less its angle brackets):
# the length of every email column.
MAX_EMAIL_LENGTH = 254


def normalize_email(value: str | None) -> str:
    """Return the matching form of an email address: trimmed and lower-cased, or ``""`` when
    there is none or it is not an address (Django's ``validate_email``: no text around it, no
    line break to smuggle a header in, no longer than :data:`MAX_EMAIL_LENGTH`).

    Only case and surrounding space are folded: dots and ``+tags`` are kept, because for most
    providers they do name different mailboxes.
    """
    if not value:
        return ""
    email = value.strip().lower()
    # U+FFFD marks unreadable text (leads.inputs), which Django's check would let by in a
    # domain (as an international name).
    if len(email) > MAX_EMAIL_LENGTH or "\ufffd" in email:
        return ""
    try:
        validate_email(email)
    except ValidationError:
        return ""
    return email


def normalize_phone(value: str | None, region: str | None = None) -> str:
    """Return ``value`` in E.164 (``+13055550123``), or ``""`` when it is not a valid number.

    A number without a country code is read in ``region`` (default ``PHONE_REGION``, "US").
    """
    if not value or not value.strip():
        return ""
    try:
        parsed = phonenumbers.parse(value, region or getattr(settings, "PHONE_REGION", "US"))
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_zip(value: str | None) -> str:
    """Return the five-digit ZIP of ``value`` (``"33101-1234"`` gives ``"33101"``), or ``""``."""
    if not value:
        return ""
    digits = value.strip().split("-")[0].strip()
    return digits if len(digits) == 5 and digits.isdigit() else ""


def place_key(name: str, state: str) -> str:
    """The matching form of a place in a state: ("Miami Beach", "FL") gives ``miami beach|fl``."""
    return f"{' '.join(name.split()).lower()}|{state.strip().lower()}"


def parse_place(text: str) -> str:
    """``"Orange County, FL"`` gives ``orange county|fl``; ``""`` without a two-letter state."""
    name, _, state = text.rpartition(",")
    if not name.strip() or len(state.strip()) != 2:
        return ""
    return place_key(name, state)


# Letters with no decomposition that PostgreSQL's unaccent still maps (unaccent.rules).
UNACCENT_LETTERS = str.maketrans(
    {"ß": "ss", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o", "Ł": "L",
     "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th", "\u0131": "i"}
)  # fmt: skip


def fold(value: str | None) -> str | None:
    """``value`` as search matches it: accents off, lower case ("Zoë Núñez" gives "zoe nunez").

    The same as the database's ``leadline_fold(text)``: PostgreSQL's ``lower(unaccent(...))``
    (the migration creates it), or this very function registered on each SQLite connection.
    ``None`` stays ``None``, as SQL's NULL does.
    """
    if value is None:
        return None
    decomposed = unicodedata.normalize("NFKD", value.translate(UNACCENT_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
