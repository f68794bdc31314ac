from __future__ import annotations

import pytest

from leads.normalize import normalize_email, normalize_phone, normalize_zip


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  Jo.Doe+Home@Example.COM ", "jo.doe+home@example.com"), ("", ""), (None, "")],
)
def test_emails_are_trimmed_and_lower_cased_only(raw, expected):
    assert normalize_email(raw) == expected


def test_an_email_longer_than_any_address_can_be_is_none():
    """Longer than the email columns (254): it was a database error in the worker."""
    longest = "a" * 242 + "@example.com"

    assert normalize_email(longest) == longest
    assert normalize_email("a" + longest) == ""


@pytest.mark.parametrize(
    "raw",
    ["rachel@example.com\r\nBcc: victim@example.org", "maria@example.com zoë 🏡",
     "priya@example.com\ufffdnul", "not an address", "@example.com"],
)  # fmt: skip
def test_text_that_is_not_an_address_is_no_email(raw):
    """Found by bench/hostile.py: portals' emails with text or a header appended were kept as
    the person's address (and answered by the API as one)."""
    assert normalize_email(raw) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(305) 555-0147", "+13055550147"),
        ("305.555.0147", "+13055550147"),
        ("+1 305 555 0147", "+13055550147"),
        ("1-305-555-0147", "+13055550147"),
        ("+44 20 7946 0958", "+442079460958"),
        ("555-0147", ""),
        ("12", ""),
        ("not a phone", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_phones_become_e164_or_nothing(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("33139", "33139"),
        ("33139-2211", "33139"),
        (" 33139 ", "33139"),
        ("3313", ""),
        ("ABCDE", ""),
    ],
)
def test_zip_codes_are_five_digits(raw, expected):
    assert normalize_zip(raw) == expected
