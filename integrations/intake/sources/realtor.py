"""Realtor.com lead delivery: ``POST /hooks/realtor/`` with JSON ``{"Lead": {...}}``.

Realtor.com sends each lead once per agreed ``x-api-key``; we answer in its own JSON reply
shape (``message``, ``description``, ``status_code``, and ``communications_guid`` on
success). The property, listing and preference blocks come either inside ``lead_info`` or
beside it under ``Lead``; both shapes are read. ``lead_guid`` is the inquiry's id. A lead
flagged ``test: true`` is stored and shown, never routed, so nobody is alerted about it.
The body's ``signature`` field has no public algorithm: it is kept with the raw event, not
checked.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.intake.models import InboundEvent
from integrations.intake.sources.base import ParseError, Source
from integrations.intake.sources.realtor_twins import realtor_twin
from integrations.intake.sources.values import (
    decimal,
    flag,
    mapping,
    moment,
    split_name,
    state_code,
    text,
)
from leads.data import ConsentData, LeadData
from leads.inputs import InputError, check_id, read_json
from leads.models import Consent, Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip

MAX_BODY_BYTES = 256 * 1024
# Blocks that sit inside ``lead_info`` in one payload shape and beside it in the other.
BLOCKS = (
    "lead_consumer_info", "lead_property_info", "listing_customer_info",
    "lead_property_preferences_info", "lead_form_info", "rdc_customer_info",
)  # fmt: skip
ROLE_TYPES = {"buyer": Lead.Type.BUYER, "seller": Lead.Type.SELLER, "renter": Lead.Type.RENTER}
CONSUMER_EXTRAS = (
    "email_verification_status", "phone_verification_status", "finance_info", "credit_score",
    "is_veteran", "is_likely_to_transact", "probability_to_transact", "move_in_date",
    "timeframe", "role",
)  # fmt: skip
LEAD_INFO_EXTRAS = (
    "inquiry_guid", "lead_guid", "communication_guid", "partner_customer_id", "paid_type",
    "lead_source", "lead_sub_source", "lead_sub_source_version", "lead_type", "lead_method",
    "lead_date_time", "test",
)  # fmt: skip
TCPA_CONSENT_TEXT = (
    "Agreed to be contacted about this inquiry on Realtor.com's lead form. The disclosure "
    "shown is on record with Jornaya under the TCPA token in this consent's evidence."
)


def reply(status: int, message: str, description: str, **extra: Any) -> JsonResponse:
    """Realtor.com's reply shape, for success and failure alike."""
    body = {"message": message, "description": description, "status_code": status, **extra}
    return JsonResponse(body, status=status)


def read_lead(body: bytes) -> dict[str, Any]:
    """Return the ``Lead`` object of a delivery, checked enough to be captured.

    Raises ``ParseError`` naming the problem: not JSON, no ``Lead`` object, no
    ``lead_guid``, or neither a usable email nor phone for the consumer.
    """
    if not body.strip():
        raise ParseError('The body is empty: send the lead as JSON {"Lead": {...}}.')
    try:
        payload = read_json(body)
    except InputError as exc:
        raise ParseError(exc.message) from exc
    lead = mapping(payload.get("Lead")) if isinstance(payload, dict) else {}
    if not lead:
        raise ParseError('Lead: the body must be a JSON object with a "Lead" object.')
    if not lead_guid(lead):
        raise ParseError("Lead.lead_info.lead_guid: missing; it identifies the lead.")
    try:
        check_id(lead_guid(lead), "Lead.lead_info.lead_guid")
    except InputError as exc:
        raise ParseError(exc.message) from exc
    consumer = block(lead, "lead_consumer_info")
    if not normalize_email(text(consumer.get("email"))) and not normalize_phone(
        text(consumer.get("phone"))
    ):
        raise ParseError("Lead.lead_info.lead_consumer_info: neither an email nor a phone number.")
    return lead


def lead_info(lead: dict[str, Any]) -> dict[str, Any]:
    return mapping(lead.get("lead_info"))


def block(lead: dict[str, Any], name: str) -> dict[str, Any]:
    """The block ``name`` wherever this payload shape put it: in ``lead_info`` or beside it."""
    return mapping(lead_info(lead).get(name)) or mapping(lead.get(name))


def lead_guid(lead: dict[str, Any]) -> str:
    return text(lead_info(lead).get("lead_guid") or lead.get("lead_guid"), 200)


def communication_guid(lead: dict[str, Any]) -> str:
    """What we answer as ``communications_guid``: the delivery's own, else the lead's."""
    return text(lead_info(lead).get("communication_guid")) or lead_guid(lead)


class RealtorSource(Source):
    key = "realtor"
    label = "Realtor.com"
    hook = "realtor/"

    def receive(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """Check the key, store the delivery raw and answer in Realtor.com's shape."""
        expected = settings.REALTOR_API_KEY
        if not expected:
            return reply(404, "Not Found", "Realtor.com lead delivery is not configured here.")
        given = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return reply(401, "Unauthorized", "The x-api-key header is missing or wrong.")
        if request.method != "POST":
            response = reply(405, "Method Not Allowed", "Deliver leads with POST.")
            response["Allow"] = "POST"
            return response
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            return reply(413, "Payload Too Large", f"A lead is at most {MAX_BODY_BYTES} bytes.")
        try:
            lead = read_lead(request.body)
        except ParseError as exc:
            self.store(request, status=InboundEvent.Status.FAILED, error=str(exc))
            return reply(400, "Bad Request", str(exc))
        self.store(request, external_id=lead_guid(lead))
        return reply(
            200, "OK", "The request has succeeded.", communications_guid=communication_guid(lead)
        )

    def parse(self, event: InboundEvent) -> list[LeadData]:
        lead = read_lead(bytes(event.body))
        info = lead_info(lead)
        consumer = block(lead, "lead_consumer_info")
        prop = block(lead, "lead_property_info")
        first, last = text(consumer.get("first_name"), 100), text(consumer.get("last_name"), 100)
        if not first and not last:
            first, last = split_name(text(consumer.get("full_name")))
        received_at = event.received_at
        data = LeadData(
            source=self.key,
            source_detail=self._detail(info),
            external_id=lead_guid(lead),
            received_at=received_at,
            raw_event_id=event.pk,
            is_test=flag(info.get("test")),
            first_name=first,
            last_name=last,
            email=normalize_email(text(consumer.get("email"))),
            phone=normalize_phone(text(consumer.get("phone"))),
            message=text(consumer.get("message"), 5000),
            lead_type=ROLE_TYPES.get(text(consumer.get("role")).lower(), Lead.Type.BUYER),
            property_address=text(prop.get("property_street_address"), 255),
            property_city=text(prop.get("property_city"), 100),
            property_state=state_code(prop.get("property_state_code")),
            property_zip=normalize_zip(text(prop.get("property_zip"))),
            mls_number=text(prop.get("mls_id"), 50),
            price=decimal(prop.get("property_price")),
            page_url=text(prop.get("rdc_property_url"), 2000),
            consents=self._consents(lead, event),
            extra={"realtor": self._extra(lead)},
        )
        # The same inquiry came first by email: this delivery fills that lead in.
        if not data.is_test and (twin := realtor_twin(data=data, of_source="email")):
            data = replace(data, source=twin.source, external_id=twin.external_id, is_update=True)
        return [data]

    @staticmethod
    def _detail(info: dict[str, Any]) -> str:
        parts = [text(info.get("lead_type")), text(info.get("lead_sub_source"))]
        return " · ".join(p for p in parts if p)[:200]

    @staticmethod
    def _extra(lead: dict[str, Any]) -> dict[str, Any]:
        """What an agent or operator may want later that has no column of its own."""
        info, consumer = lead_info(lead), block(lead, "lead_consumer_info")
        facts: dict[str, Any] = {k: info[k] for k in LEAD_INFO_EXTRAS if info.get(k) is not None}
        consumer_facts = {k: consumer[k] for k in CONSUMER_EXTRAS if consumer.get(k) is not None}
        if consumer_facts:
            facts["consumer"] = consumer_facts
        for name, key in (
            ("lead_property_info", "property"), ("listing_customer_info", "listing"),
            ("lead_property_preferences_info", "preferences"), ("lead_form_info", "form"),
            ("rdc_customer_info", "recipient"),
        ):  # fmt: skip
            if found := block(lead, name):
                facts[key] = found
        return facts

    @staticmethod
    def _consents(lead: dict[str, Any], event: InboundEvent) -> tuple[ConsentData, ...]:
        """The Jornaya TCPA token is the evidence of the consumer's consent to be called."""
        token = text(block(lead, "lead_consumer_info").get("jornaya_tcpa_id"), 200)
        if not token:
            return ()
        info = lead_info(lead)
        obtained_at = moment(info.get("lead_date_time")) or event.received_at
        evidence = {
            "jornaya_tcpa_id": token,
            "lead_guid": lead_guid(lead),
            "inquiry_guid": text(info.get("inquiry_guid")),
            "event": str(event.public_id),
        }
        return tuple(
            ConsentData(channel, True, TCPA_CONSENT_TEXT, obtained_at, evidence)
            for channel in (Consent.Channel.CALL, Consent.Channel.SMS)
        )
