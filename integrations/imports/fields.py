"""The fields a column can be mapped to, guessing them from the headers, and turning a row
of cells into a person (:class:`leads.bulk.PersonRow`) or the reason it cannot be one."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from leads.bulk import PersonRow
from leads.data import ConsentData
from leads.models import Consent, Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    words: tuple[str, ...] = ()  # header words that guess this field (normalised)


FIELDS = (
    Field("first_name", "First name", ("first name", "firstname", "first", "given name")),
    Field("last_name", "Last name", ("last name", "lastname", "last", "surname", "family name")),
    Field("full_name", "Full name", ("name", "full name", "contact name", "contact")),
    Field("email", "Email", ("email", "e-mail", "email address", "primary email")),
    Field("more_emails", "Other emails", ("other emails", "email 2", "secondary email")),
    Field("phone", "Phone", ("phone", "mobile", "cell", "phone number", "mobile phone")),
    Field("more_phones", "Other phones", ("other phones", "phone 2", "home phone", "work phone")),
    Field("tags", "Tags", ("tags", "tag", "labels", "groups")),
    Field("agent_email", "Agent's email", ("agent", "agent email", "assigned to", "owner")),
    Field("lead_type", "Lead type", ("type", "lead type")),
    Field("status", "Status", ("status", "stage", "lead status")),
    Field("message", "Message or notes", ("message", "notes", "note", "comments")),
    Field("property_address", "Address", ("address", "street", "property address")),
    Field("property_city", "City", ("city",)),
    Field("property_state", "State", ("state", "st")),
    Field("property_zip", "ZIP", ("zip", "zip code", "postal code", "zipcode")),
    Field("mls_number", "MLS number", ("mls", "mls number", "mls #")),
    Field("price", "Price", ("price", "budget", "list price")),
    Field("received_at", "Date received", ("created", "date", "created at", "date added")),
    Field("source_detail", "Original source", ("source", "lead source", "origin")),
    Field("consent_marketing_email", "Consent: marketing email", ("email opt in", "opt in")),
    Field("consent_sms", "Consent: text messages", ("sms opt in", "text opt in")),
    Field("consent_call", "Consent: calls", ("call opt in",)),
    Field("consent_at", "Consent: date given", ("opt in date", "consent date")),
)
BY_KEY = {f.key: f for f in FIELDS}
CONSENT_FIELDS = {
    "consent_marketing_email": Consent.Channel.MARKETING_EMAIL,
    "consent_sms": Consent.Channel.SMS,
    "consent_call": Consent.Channel.CALL,
}
YES = {"yes", "y", "true", "1", "x", "subscribed", "opted in", "opt in", "granted"}
NO = {"no", "n", "false", "0", "unsubscribed", "opted out", "opt out", "refused"}
SPLIT = re.compile(r"[;,|\s]+")
TAG_SPLIT = re.compile(r"[;,|]")
# Excel counts days from 1899-12-30 (its 1900 leap-year bug included).
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y", "%m/%d/%y",
    "%d.%m.%Y", "%b %d, %Y", "%d %b %Y", "%B %d, %Y",
)  # fmt: skip


def _norm(header: str) -> str:
    return " ".join(re.sub(r"[_\-.:]+", " ", header).lower().split())


def shape(headers: Sequence[str]) -> str:
    """The header row's shape: files with the same headers share a remembered mapping."""
    return hashlib.sha256("\x1f".join(_norm(h) for h in headers).encode()).hexdigest()


def guess(headers: Sequence[str]) -> list[str]:
    """A field for each header it plainly names (each field at most once), else ""."""
    taken: set[str] = set()
    result = []
    for header in headers:
        name = _norm(header)
        key = next(
            (
                f.key
                for f in FIELDS
                if f.key not in taken and (name in map(_norm, f.words) or name == _norm(f.key))
            ),
            "",
        )
        taken.add(key)
        result.append(key)
    return result


class RowError(ValueError):
    """Why a row cannot be imported, in words for the person who uploaded it."""


def parse_date(value: str) -> dt.datetime:
    """ISO 8601, US (3/14/2024), a few written forms, or an Excel serial day number."""
    text = value.strip()
    try:
        serial = float(text)
    except ValueError:
        serial = None
    if serial is not None:
        if not 1 <= serial < 2958466:
            raise RowError(f'"{value}" is not a date')
        return timezone.make_aware(EXCEL_EPOCH + dt.timedelta(days=serial))
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    for pattern in DATE_FORMATS if parsed is None else ():
        try:
            parsed = dt.datetime.strptime(text, pattern)
            break
        except ValueError:
            continue
    if parsed is None:
        raise RowError(f'"{value}" is not a date')
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def _choice(value: str, choices: Any, what: str) -> str:
    wanted = _norm(value).replace(" ", "_")
    for key, label in choices:
        if wanted in (key, _norm(label).replace(" ", "_")):
            return str(key)
    if what == "lead type" and wanted in ("rental", "rent", "tenant"):
        return str(Lead.Type.RENTER)
    names = ", ".join(str(key) for key, _ in choices)
    raise RowError(f'{what}: "{value}" is not one of {names}')


def _emails(value: str) -> list[str]:
    found = []
    for part in SPLIT.split(value):
        if not part:
            continue
        email = normalize_email(part)
        try:
            validate_email(email)
        except ValidationError:
            raise RowError(f'email: "{part}" is not an email address') from None
        found.append(email)
    return found


def _phones(value: str) -> list[str]:
    found = []
    for part in re.split(r"[;,|/]+", value):
        if not part.strip():
            continue
        phone = normalize_phone(part)
        if not phone:
            raise RowError(f'phone: "{part.strip()}" is not a phone number')
        found.append(phone)
    return found


def _consent(value: str) -> bool | None:
    word = _norm(value)
    if not word:
        return None
    if word in YES:
        return True
    if word in NO:
        return False
    raise RowError(f'consent: "{value}" is neither yes nor no')


def person(
    cells: Sequence[str], fields: Sequence[str], *, key: str, consent_source: str,
    now: dt.datetime,
) -> PersonRow:  # fmt: skip
    """The person a row names; RowError with the reason when it names none."""
    given: dict[str, str] = {}
    for field_key, cell in zip(fields, cells, strict=False):
        if field_key and cell.strip():
            given[field_key] = cell.strip()
    first, last = given.get("first_name", ""), given.get("last_name", "")
    if "full_name" in given and not (first or last):
        full = given["full_name"]
        if "," in full:
            last, _, first = (p.strip() for p in full.partition(","))
        else:
            first, _, last = full.rpartition(" ") if " " in full else (full, "", "")
            first, last = first.strip(), last.strip()
    emails = _emails(given.get("email", "")) + _emails(given.get("more_emails", ""))
    phones = _phones(given.get("phone", "")) + _phones(given.get("more_phones", ""))
    if not emails and not phones:
        raise RowError("no email or phone: the person could not be recognised")
    lead: dict[str, Any] = {}
    if "lead_type" in given:
        lead["lead_type"] = _choice(given["lead_type"], Lead.Type.choices, "lead type")
    if "status" in given:
        lead["status"] = _choice(given["status"], Lead.Status.choices, "status")
    for name in ("message", "property_address", "property_city", "mls_number"):
        if name in given:
            lead[name] = given[name][: 4000 if name == "message" else 100]
    if "source_detail" in given:
        lead["source_detail"] = given["source_detail"][:120]
    if "property_state" in given:
        state = given["property_state"].upper()
        if len(state) != 2 or not state.isalpha():
            raise RowError(f'state: "{given["property_state"]}" is not a two-letter state')
        lead["property_state"] = state
    if "property_zip" in given:
        lead["property_zip"] = normalize_zip(given["property_zip"]) or given["property_zip"][:10]
    if "price" in given:
        try:
            price = Decimal(re.sub(r"[$,\s]", "", given["price"]))
        except InvalidOperation:
            raise RowError(f'price: "{given["price"]}" is not a number') from None
        if not price.is_finite() or price < 0 or price >= Decimal("1e10"):
            raise RowError(f'price: "{given["price"]}" is not a price')
        lead["price"] = price.quantize(Decimal("0.01"))
    if "received_at" in given:
        try:
            received = parse_date(given["received_at"])
        except RowError as error:
            raise RowError(f"date received: {error}") from None
        if received > now + dt.timedelta(days=1):
            raise RowError(f'date received: "{given["received_at"]}" is in the future')
        lead["received_at"] = received
    consents = []
    obtained = lead.get("received_at", now)
    if "consent_at" in given:
        try:
            obtained = parse_date(given["consent_at"])
        except RowError as error:
            raise RowError(f"consent date: {error}") from None
    for field_key, channel in CONSENT_FIELDS.items():
        granted = _consent(given.get(field_key, ""))
        if granted is None:
            continue
        if not consent_source:
            raise RowError("consent: the source of the consents was not stated")
        consents.append(
            ConsentData(
                channel=str(channel), granted=granted, obtained_at=obtained,
                text=f"Imported: {consent_source}", evidence={"import": key},
            )
        )  # fmt: skip
    tags = tuple(
        dict.fromkeys(t.strip() for t in TAG_SPLIT.split(given.get("tags", "")) if t.strip())
    )
    return PersonRow(
        key=key, first_name=first[:100], last_name=last[:100],
        emails=tuple(dict.fromkeys(emails)), phones=tuple(dict.fromkeys(phones)), tags=tags,
        consents=tuple(consents), agent_email=normalize_email(given.get("agent_email", "")),
        lead=lead,
    )  # fmt: skip
