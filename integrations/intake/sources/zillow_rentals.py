"""Zillow Rentals lead callback (HotPads, Zillow Rental Network) at ``/hooks/zillow-rentals/<t>/``.

Zillow POSTs each renter's inquiry form-encoded (hotpads.com/pages/partners/leadCallback.htm).
Only ``listingId`` and ``email`` are promised; the rest of the renter's profile comes when the
renter filled it in. Zillow signs nothing, so the URL carries a secret token
(``ZILLOW_RENTALS_TOKEN``), compared in constant time; a wrong one is a 404, as if the hook
did not exist. The callback has no lead id: an inquiry is identified by a hash of its
normalised content, so a re-sent callback makes no second lead. Zillow's documented reply is
"200 if accepted or 5xx": 5xx only when the callback could not be stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.intake.models import InboundEvent
from integrations.intake.sources.base import ParseError, Refused, Source
from integrations.intake.sources.values import decimal, flag, split_name, state_code, text
from leads.data import LeadData
from leads.inputs import InputError, clean_text, read_json
from leads.models import Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip

MAX_BODY_BYTES = 64 * 1024
REQUIRED = ("listingId", "email")
LEAD_KINDS = {"tourrequest": "tour", "tour": "tour", "question": "question"}
# Profile answers kept as Zillow words them.
PLAIN_FIELDS = {
    "leaseLengthMonths": "lease_length_months",
    "moveInTimeframe": "move_in_timeframe",
    "movingFromCity": "moving_from_city",
    "movingFromState": "moving_from_state",
    "reasonForMoving": "reason_for_moving",
    "employmentStatus": "employment_status",
    "jobTitle": "job_title",
    "employer": "employer",
    "employmentStartDate": "employment_start_date",
    "parkingTypeDesired": "parking_type_desired",
    "smoker": "smoker",
    "introduction": "introduction",
    "numOccupants": "occupants",
    "listingContactEmail": "listing_contact_email",
    "globalListingId": "global_listing_id",
    "providerModelId": "provider_model_id",
}
# Profile answers Zillow sends as JSON inside a form field.
JSON_FIELDS = {
    "neighborhoods": "neighborhoods",
    "propertyTypesDesired": "property_types_desired",
    "employmentDetailsJson": "employment_details",
    "petDetailsJson": "pet_details",
}


def read_callback(body: bytes) -> dict[str, str]:
    """The callback's fields, one value each (the first when a field is repeated).

    Raises ``ParseError`` naming the problem: not UTF-8 form data, or a guaranteed field
    (``listingId``, ``email``) missing.
    """
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"The body is not UTF-8 form data: {exc}.") from exc
    fields = {clean_text(key): clean_text(values[0].strip()) for key, values in parsed.items()}
    missing = [name for name in REQUIRED if not fields.get(name)]
    if missing:
        raise ParseError(f"{', '.join(missing)}: missing; Zillow always sends listingId and email.")
    if "@" not in fields["email"]:
        raise ParseError(f"email: {fields['email'][:100]!r} is not an email address.")
    return fields


def lead_kind(fields: dict[str, str]) -> str:
    """``tour`` or ``question`` (or Zillow's own word for a kind we do not know yet)."""
    raw = text(fields.get("leadType")).lower()
    if not raw and flag(fields.get("hasTourRequest")):
        return "tour"
    return LEAD_KINDS.get(raw, raw)


def content_key(fields: dict[str, str]) -> str:
    """The inquiry's identity: a hash of its normalised email, phone, listing, kind, message.

    The same renter asking the same thing about the same listing gives the same key however
    the callback is re-sent (case, spacing, phone format).
    """
    phone = normalize_phone(fields.get("phone")) or "".join(
        c for c in fields.get("phone", "") if c.isdigit()
    )
    parts = (
        normalize_email(fields["email"]),
        phone,
        fields["listingId"].strip().lower(),
        lead_kind(fields),
        " ".join(fields.get("message", "").split()).casefold(),
    )
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _date(value: str) -> str:
    """``20160926`` or ``2016-09-26`` as an ISO date; ``""`` when it is neither."""
    for pattern in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, pattern).date().isoformat()
        except ValueError:
            continue
    return ""


def _count(value: Any) -> int | None:
    number = decimal(value)
    return int(number) if number is not None and number == int(number) else None


def _json(value: str) -> Any:
    """A JSON answer decoded; the text itself when it is not JSON."""
    try:
        return read_json(value)
    except (TypeError, InputError):
        return value


def renter_profile(fields: dict[str, str]) -> dict[str, Any]:
    """What the renter told Zillow about themselves, with empty answers left out."""
    profile: dict[str, Any] = {
        "listing_id": fields["listingId"],
        "lead_type": lead_kind(fields),
        "move_in_date": _date(text(fields.get("moveInDate") or fields.get("movingDate"))),
        "bedrooms": _count(fields.get("numBedroomsSought") or fields.get("numBedrooms")),
        "bathrooms": decimal(fields.get("numBathroomsSought")),
        "income_yearly": decimal(fields.get("incomeYearly")),
    }
    if text(fields.get("hasPets")):
        profile["has_pets"] = flag(fields.get("hasPets"))
    credit = _json(text(fields.get("creditScoreRangeJson")))
    if isinstance(credit, dict):
        profile["credit_score_min"] = credit.get("creditScoreMin")
        profile["credit_score_max"] = credit.get("creditScoreMax")
    for name, key in PLAIN_FIELDS.items():
        profile[key] = text(fields.get(name))
    for name, key in JSON_FIELDS.items():
        if raw := text(fields.get(name)):
            profile[key] = _json(raw)
    if isinstance(profile.get("pet_details"), list | dict) and "has_pets" not in profile:
        profile["has_pets"] = bool(profile["pet_details"])
    phone = text(fields.get("phone"))
    if phone and "x" in phone.lower():
        profile["phone_as_sent"] = phone  # the extension is not part of E.164
    for key in ("bathrooms", "income_yearly"):
        if profile[key] is not None:
            profile[key] = float(profile[key])
    return {key: value for key, value in profile.items() if value not in ("", None)}


def listing_address(fields: dict[str, str]) -> str:
    street, unit = text(fields.get("listingStreet")), text(fields.get("listingUnit"))
    if not unit:
        return street[:255]
    separator = " " if unit.startswith("#") or unit.lower().startswith(("apt", "unit")) else " #"
    return f"{street}{separator}{unit}"[:255]


class ZillowRentalsSource(Source):
    key = "zillow_rentals"
    label = "Zillow Rentals"
    hook = "zillow-rentals/<str:token>/"

    def receive(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """Check the path's token, store the callback raw, answer 200 (or 5xx if not stored)."""
        expected = settings.ZILLOW_RENTALS_TOKEN
        token = str(kwargs.get("token", ""))
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            raise Refused("Not found.", status=404)
        if request.method != "POST":
            response = JsonResponse({"status": 405, "message": "Use POST."}, status=405)
            response["Allow"] = "POST"
            return response
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            message = f"A callback is at most {MAX_BODY_BYTES} bytes."
            return JsonResponse({"status": 413, "message": message}, status=413)
        try:
            try:
                fields = read_callback(request.body)
            except ParseError as exc:
                self.store(request, status=InboundEvent.Status.FAILED, error=str(exc))
                return JsonResponse({"status": 400, "message": str(exc)}, status=400)
            stored = self.store(request, external_id=content_key(fields))
        except DatabaseError:
            # Zillow tries again on a 5xx; nothing was kept, so it must.
            response = JsonResponse({"status": 503, "message": "Not stored; retry."}, status=503)
            response["Retry-After"] = "60"
            return response
        return JsonResponse({"status": "received", "id": str(stored.event.public_id)})

    def parse(self, event: InboundEvent) -> list[LeadData]:
        fields = read_callback(bytes(event.body))
        email = normalize_email(fields["email"])
        first, last = split_name(text(fields.get("name")))
        message = text(fields.get("message"), 5000) or text(fields.get("introduction"), 5000)
        return [
            LeadData(
                source=self.key,
                source_detail=f"Listing {fields['listingId']}"[:200],
                external_id=event.external_id or content_key(fields),
                received_at=event.received_at,
                raw_event_id=event.pk,
                first_name=first,
                last_name=last,
                email=email,
                phone=normalize_phone(text(fields.get("phone"))),
                message=message,
                lead_type=Lead.Type.RENTER,
                property_address=listing_address(fields),
                property_city=text(fields.get("listingCity"), 100),
                property_state=state_code(fields.get("listingState")),
                property_zip=normalize_zip(text(fields.get("listingPostalCode"))),
                extra={"zillow_rentals": renter_profile(fields)},
            )
        ]
