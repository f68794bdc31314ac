"""Tolerant readers for the values vendors send: strings, numbers, flags and "null".

Portal payloads are not contracts: a field may be missing, sent as ``null`` or as the string
``"null"``, a number may come as ``"219000"`` or ``"$219,000"``, a flag as ``true`` or
``"yes"``. These readers turn each into one clean value, or an empty one, and never raise.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_datetime

NULLS = frozenset({"", "null", "none", "undefined", "n/a"})
TRUTHY = frozenset({"true", "yes", "y", "1", "on"})
_NUMBER_NOISE = re.compile(r"[\s$,]")


def text(value: Any, limit: int = 0) -> str:
    """``value`` as a stripped string; ``""`` for None, containers and the spellings of null."""
    if value is None or isinstance(value, dict | list | tuple):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    result = str(value).strip()
    if result.lower() in NULLS:
        return ""
    return result[:limit] if limit else result


def flag(value: Any) -> bool:
    """True for ``true``, ``"true"``, ``"yes"``, ``1``; False for anything else."""
    if isinstance(value, bool):
        return value
    return text(value).lower() in TRUTHY


def decimal(value: Any) -> Decimal | None:
    """A money or size amount: ``219000``, ``"219000.00"``, ``"$219,000"``; None otherwise."""
    if isinstance(value, bool):
        return None
    raw = _NUMBER_NOISE.sub("", text(value))
    if not raw:
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0 or number >= Decimal("1e10"):
        return None
    return number.quantize(Decimal("0.01"))


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is an object, else an empty dict (a block sent as null or a string)."""
    return dict(value) if isinstance(value, Mapping) else {}


def lookup(block: Mapping[str, Any], *names: str) -> Any:
    """The value of the first of ``names`` present in ``block``, matched ignoring case.

    Vendors' keys drift in case (``Zip``, ``ZIP``) and spelling; callers list the spellings
    seen in the wild, the documented one first.
    """
    folded = {key.lower(): value for key, value in block.items() if isinstance(key, str)}
    for name in names:
        if name in block:
            return block[name]
        if name.lower() in folded:
            return folded[name.lower()]
    return None


def state_code(value: Any) -> str:
    """A two-letter state code, upper-cased; ``""`` for anything else."""
    code = text(value).upper()
    return code if len(code) == 2 and code.isalpha() else ""


def split_name(full_name: str) -> tuple[str, str]:
    """``"Jane van Doe"`` gives ``("Jane", "van Doe")``; one word is a first name."""
    first, _, last = " ".join(full_name.split()).partition(" ")
    return first[:100], last[:100]


def moment(value: Any) -> dt.datetime | None:
    """An ISO-8601 date and time as an aware datetime (UTC when no offset is given)."""
    try:
        parsed = parse_datetime(text(value))
    except ValueError:
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
