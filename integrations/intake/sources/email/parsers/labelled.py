"""Reading the "Label: value" lines that vendors' lead emails are made of.

A value may sit on the label's own line (``Phone: (305) 555-0142``) or, when the label stands
alone (``Property Address:``), on the lines below it up to the next label or blank line.
Labels are matched ignoring case, spacing and a trailing ``#``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from integrations.intake.sources.values import state_code
from leads.normalize import normalize_zip

_LABEL = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 ./#&'()-]{0,40}?)\s*:\s*(.*)$")
# "1919 W Diamond St #2, Philadelphia, PA, 19121" or "... Philadelphia, PA 19121".
ADDRESS = re.compile(
    r"(?P<street>\d[^,\n]*?),\s*(?P<city>[A-Za-z][^,\n]*?),\s*(?P<state>[A-Za-z]{2}),?\s+"
    r"(?P<zip>\d{5})(?:-\d{4})?\b"
)


def fold_label(label: str) -> str:
    return " ".join(label.lower().replace("#", " ").split())


def labelled_fields(text: str, known: Iterable[str]) -> dict[str, str]:
    """The values of the ``known`` labels (folded), the first occurrence of each."""
    wanted = {fold_label(k) for k in known}
    found: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _LABEL.match(lines[index])
        index += 1
        if not match:
            continue
        label = fold_label(match.group(1))
        if label not in wanted or label in found:
            continue
        value = match.group(2).strip()
        if not value:
            parts = []
            while index < len(lines) and lines[index].strip():
                following = _LABEL.match(lines[index])
                if following and fold_label(following.group(1)) in wanted:
                    break
                parts.append(lines[index].strip())
                index += 1
            value = ", ".join(parts) if parts else ""
        found[label] = value
    return found


def pick(fields: dict[str, str], *labels: str) -> str:
    """The first of ``labels`` that has a value."""
    for label in labels:
        if value := fields.get(fold_label(label), "").strip():
            return value
    return ""


def split_address(value: str) -> tuple[str, str, str, str]:
    """``street, city, state, ZIP`` out of a one-line address; the text as the street when
    it is not one."""
    match = ADDRESS.search(value)
    if not match:
        return value.strip()[:255], "", "", ""
    return (
        match["street"].strip()[:255],
        match["city"].strip()[:100],
        state_code(match["state"]),
        normalize_zip(match["zip"]),
    )
