"""Events sent through the REST API (``POST /api/v1/events/``): any source's leads and what
people do there, in one typed shape, after Follow Up Boss's ``POST /v1/events``
(https://docs.followupboss.com/reference/events-post).

An event has a ``type``, a nested ``person`` (several emails and phones, tags), and as it
applies a ``property``, a ``property_search``, a ``campaign`` (UTM), the page, consents and a
pinned ``agent``. It is checked at the door (:mod:`integrations.intake.api`), stored raw as an
``events`` InboundEvent, and read here on the queue with the same serializer:

- an inquiry (``inquiry``, ``general_inquiry``, ``property_inquiry``, ``seller_inquiry``,
  ``registration``, ``open_house_visit``) becomes a lead, routed and alerted like any source's;
  ``inquiry`` is a property inquiry when a property is given, a general one otherwise;
- what a person did (``viewed_property``, ``saved_property``, ``property_search``) goes on
  the timeline of the person it names, with no new lead; a person nobody knows yet is a new
  lead all the same (they came from somewhere).

The lead's ``source`` is the integration's (``idx-website``), which routing rules can name;
an agent's own token sends as ``api``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from integrations.intake.models import InboundEvent
from integrations.intake.sources.base import ParseError, Source
from leads.data import ConsentData, LeadData, PersonEvent
from leads.inputs import InputError, read_json
from leads.models import TAG_MAX_LENGTH, Agent, Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip
from leads.serializers import (
    MAX_ID,
    WEB_ADDRESS,
    ConsentInputSerializer,
    Flag,
    Money,
    Text,
    Whole,
)
from leads.services import person_event_record

INQUIRIES = {
    "inquiry": "Inquiry",
    "general_inquiry": "General inquiry",
    "property_inquiry": "Property inquiry",
    "seller_inquiry": "Seller inquiry",
    "registration": "Registration",
    "open_house_visit": "Open house visit",
}
BEHAVIOUR = {
    "viewed_property": "Viewed a property",
    "saved_property": "Saved a property",
    "property_search": "Searched for properties",
}
EVENT_TYPES = {**INQUIRIES, **BEHAVIOUR}
MAX_ADDRESSES = 10


def _blank(**kwargs: Any) -> dict[str, Any]:
    return {"required": False, "allow_blank": True, **kwargs}


class EmailSerializer(serializers.Serializer):
    value = serializers.EmailField(max_length=254)
    type = Text(max_length=30, **_blank(help_text="home, work, ..."))

    def validate_value(self, value: str) -> str:
        return normalize_email(value)


class PhoneSerializer(serializers.Serializer):
    value = Text(max_length=32, help_text="Any format; stored in E.164.")
    type = Text(max_length=30, **_blank(help_text="mobile, home, work, ..."))

    def validate_value(self, value: str) -> str:
        phone = normalize_phone(value)
        if not phone:
            raise serializers.ValidationError("Enter a valid phone number, e.g. (305) 555-0123.")
        return phone


class PersonSerializer(serializers.Serializer):
    first_name = Text(max_length=100, **_blank())
    last_name = Text(max_length=100, **_blank())
    # max_length reaches DRF's ListSerializer, which its stubs do not know.
    emails = EmailSerializer(many=True, required=False, max_length=MAX_ADDRESSES)  # type: ignore[call-arg]
    phones = PhoneSerializer(many=True, required=False, max_length=MAX_ADDRESSES)  # type: ignore[call-arg]
    tags = serializers.ListField(
        child=Text(max_length=TAG_MAX_LENGTH), required=False, max_length=20,
        help_text="Tags to put on the person (added; none is taken off).",
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("emails") and not attrs.get("phones"):
            raise serializers.ValidationError({"emails": ["Give an email address or a phone."]})
        return attrs


class PropertySerializer(serializers.Serializer):
    street = Text(max_length=255, **_blank())
    city = Text(max_length=100, **_blank())
    state = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, help_text="Two letters.")
    zip = serializers.RegexField(r"^[0-9]{5}(-[0-9]{4})?$", required=False)
    mls_number = Text(max_length=50, **_blank())
    price = Money(required=False, allow_null=True)
    url = serializers.RegexField(WEB_ADDRESS, max_length=2000, required=False)
    type = Text(max_length=50, **_blank(help_text="Single family, condo, ..."))
    bedrooms = Whole(required=False, min_value=0, max_value=100)
    bathrooms = Money(required=False, allow_null=True)
    for_rent = Flag(required=False, help_text="A rental: the lead is a renter's.")


class PropertySearchSerializer(serializers.Serializer):
    city = Text(max_length=100, **_blank())
    state = serializers.RegexField(r"^[A-Za-z]{2}$", required=False)
    zip = serializers.RegexField(r"^[0-9]{5}(-[0-9]{4})?$", required=False)
    neighborhood = Text(max_length=100, **_blank())
    type = Text(max_length=50, **_blank())
    min_price = Money(required=False, allow_null=True)
    max_price = Money(required=False, allow_null=True)
    min_bedrooms = Whole(required=False, min_value=0, max_value=100)
    min_bathrooms = Whole(required=False, min_value=0, max_value=100)


class CampaignSerializer(serializers.Serializer):
    source = Text(max_length=255, **_blank(help_text="utm_source"))  # type: ignore[assignment]  # a field, popped by the metaclass
    medium = Text(max_length=255, **_blank(help_text="utm_medium"))
    campaign = Text(max_length=255, **_blank(help_text="utm_campaign"))
    term = Text(max_length=255, **_blank(help_text="utm_term"))
    content = Text(max_length=255, **_blank(help_text="utm_content"))
    gclid = Text(max_length=255, **_blank())
    fbclid = Text(max_length=255, **_blank())


class AgentRefSerializer(serializers.Serializer):
    id = Whole(min_value=1, max_value=MAX_ID, required=False)
    email = serializers.EmailField(max_length=254, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError({"id": ["Give the agent's id or email."]})
        return attrs


class EventSerializer(serializers.Serializer):
    """One event: an inquiry that makes a lead, or something a person did."""

    id = serializers.RegexField(
        r"^[\x21-\x7e]{1,200}$",
        required=False,
        help_text="Your own id for the event: sent again, it is recognised (like Idempotency-Key).",
    )
    type = serializers.ChoiceField(choices=list(EVENT_TYPES.items()))
    occurred_at = serializers.DateTimeField(required=False, help_text="When it happened.")
    source = Text(  # type: ignore[assignment]  # a field, popped by the metaclass
        max_length=150, **_blank(help_text="Where within your system, e.g. a page.")
    )
    message = Text(max_length=5000, **_blank())
    person = PersonSerializer()
    property = PropertySerializer(required=False)
    property_search = PropertySearchSerializer(required=False)
    campaign = CampaignSerializer(required=False)
    page_url = serializers.RegexField(WEB_ADDRESS, max_length=2000, required=False)
    referrer = serializers.RegexField(WEB_ADDRESS, max_length=2000, required=False)
    agent = AgentRefSerializer(
        required=False, help_text="The agent the person is already working with: routed first."
    )
    consents = ConsentInputSerializer(many=True, required=False, max_length=10)  # type: ignore[call-arg]

    def __init__(self, *args: Any, agents: QuerySet[Agent] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agents = agents

    def validate_agent(self, value: dict[str, Any]) -> dict[str, Any]:
        if self.agents is None:
            return value
        lookup = {"pk": value["id"]} if "id" in value else {"email__iexact": value["email"]}
        agent = self.agents.filter(**lookup).first()
        if agent is None:
            raise serializers.ValidationError("Name an active agent of the team (id or email).")
        return value


def agents_of(team_id: int) -> QuerySet[Agent]:
    return Agent.objects.filter(team_id=team_id, is_active=True)


class EventsSource(Source):
    key = "events"
    label = "Events API"
    leads_carry_team = True
    kept_headers = (*Source.kept_headers, "idempotency-key")

    def apply(self, event: InboundEvent) -> bool | None:
        """What a known person did goes on their timeline; anything else is parsed."""
        payload, data = self._read(event)
        if payload["type"] not in BEHAVIOUR:
            return None
        recorded = person_event_record(data=data, event=person_event(payload, data))
        return True if recorded is not None else None

    def parse(self, event: InboundEvent) -> list[LeadData]:
        return [self._read(event)[1]]

    def _read(self, event: InboundEvent) -> tuple[dict[str, Any], LeadData]:
        try:
            body = read_json(bytes(event.body))
        except InputError as exc:
            raise ParseError(exc.message) from exc
        team_id = event.meta.get("team_id")
        if not isinstance(team_id, int):
            raise ParseError("The event does not say which team sent it (meta.team_id).")
        serializer = EventSerializer(data=body)
        if not serializer.is_valid():
            raise ParseError(json.dumps(serializer.errors))
        payload: dict[str, Any] = serializer.validated_data
        return payload, lead_data(payload, event, team_id)


def lead_data(payload: dict[str, Any], event: InboundEvent, team_id: int) -> LeadData:
    """The event as the domain's ``LeadData``."""
    person = payload["person"]
    place = payload.get("property", {})
    campaign = payload.get("campaign", {})
    received_at = parse_datetime(event.meta.get("received_at", "")) or event.received_at
    evidence = {
        "ip": event.remote_addr,
        "user_agent": event.headers.get("user-agent", ""),
        "integration": event.meta.get("integration_id"),
        "api_user": event.meta.get("user_id"),
    }
    emails = [e["value"] for e in person.get("emails", [])]
    phones = [p["value"] for p in person.get("phones", [])]
    kind = event_type(payload)
    if kind == "seller_inquiry":
        lead_type = Lead.Type.SELLER
    elif place.get("for_rent"):
        lead_type = Lead.Type.RENTER
    else:
        lead_type = Lead.Type.BUYER
    detail = payload.get("source", "").strip()
    extra = {
        "event_type": kind,
        "occurred_at": payload["occurred_at"].isoformat() if "occurred_at" in payload else None,
        "property": _plain({k: v for k, v in place.items() if k in PROPERTY_EXTRA}),
        "property_search": _plain(payload.get("property_search", {})),
    }
    return LeadData(
        source=str(event.meta.get("lead_source") or "api"),
        source_detail=(f"{EVENT_TYPES[kind]}: {detail}" if detail else EVENT_TYPES[kind])[:200],
        external_id=f"event:{event.external_id or event.public_id}",
        received_at=received_at,
        team_id=team_id,
        raw_event_id=event.pk,
        pinned_agent_id=pinned_agent(payload, team_id),
        first_name=person.get("first_name", "").strip(),
        last_name=person.get("last_name", "").strip(),
        email=emails[0] if emails else "",
        phone=phones[0] if phones else "",
        emails=tuple(emails[1:]),
        phones=tuple(phones[1:]),
        tags=tuple(person.get("tags", [])),
        message=payload.get("message", "").strip(),
        lead_type=lead_type,
        property_address=place.get("street", "").strip(),
        property_city=place.get("city", "").strip(),
        property_state=place.get("state", "").upper(),
        property_zip=normalize_zip(place.get("zip", "")),
        mls_number=place.get("mls_number", "").strip(),
        price=place.get("price"),
        utm_source=campaign.get("source", ""),
        utm_medium=campaign.get("medium", ""),
        utm_campaign=campaign.get("campaign", ""),
        utm_term=campaign.get("term", ""),
        utm_content=campaign.get("content", ""),
        gclid=campaign.get("gclid", ""),
        fbclid=campaign.get("fbclid", ""),
        page_url=payload.get("page_url", ""),
        referrer=payload.get("referrer", ""),
        consents=tuple(
            ConsentData(c["channel"], c["granted"], c["text"], received_at, evidence)
            for c in payload.get("consents", [])
        ),
        extra={k: v for k, v in extra.items() if v},
    )


PROPERTY_EXTRA = ("url", "type", "bedrooms", "bathrooms", "for_rent")


def pinned_agent(payload: dict[str, Any], team_id: int) -> int | None:
    """The active agent of the team the event names (by id or email), or None: one who
    left since the door checked is not waited for, the lead is routed as usual."""
    ref = payload.get("agent") or {}
    if not ref:
        return None
    lookup = {"pk": ref["id"]} if "id" in ref else {"email__iexact": ref["email"]}
    found: int | None = agents_of(team_id).filter(**lookup).values_list("pk", flat=True).first()
    return found


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Decimals as strings, so the facts store as JSON exactly."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items() if v != ""}


def event_type(payload: dict[str, Any]) -> str:
    """``inquiry`` is a property inquiry with a property, a general one without."""
    kind = str(payload["type"])
    if kind == "inquiry":
        return "property_inquiry" if payload.get("property") else "general_inquiry"
    return kind


def person_event(payload: dict[str, Any], data: LeadData) -> PersonEvent:
    """A behavioural event in words, for the timeline."""
    kind = event_type(payload)
    if kind == "property_search":
        facts = payload.get("property_search", {})
        said = describe_search(facts)
    else:
        facts = payload.get("property", {})
        said = describe_property(facts)
    where = payload.get("source", "").strip() or data.source
    summary = f"{EVENT_TYPES[kind]}{': ' + said if said else ''} (via {where})"
    return PersonEvent(kind, summary, {"details": _plain(facts), "page_url": data.page_url})


def describe_property(place: dict[str, Any]) -> str:
    """``1500 Collins Ave, Miami Beach, FL 33139 (MLS A1154, $875,000)``."""
    town = " ".join(p for p in (place.get("state", "").upper(), place.get("zip", "")) if p)
    address = ", ".join(p for p in (place.get("street"), place.get("city"), town) if p)
    notes = []
    if place.get("mls_number"):
        notes.append(f"MLS {place['mls_number']}")
    if place.get("price") is not None:
        notes.append(f"${place['price']:,.0f}")
    return address + (f" ({', '.join(notes)})" if notes else "")


def describe_search(search: dict[str, Any]) -> str:
    """``Miami Beach, FL 33139, $500,000 to $900,000, 2+ bedrooms``."""
    parts = [
        ", ".join(
            p
            for p in (
                search.get("neighborhood"),
                search.get("city"),
                " ".join(x for x in (search.get("state", "").upper(), search.get("zip", "")) if x),
            )
            if p
        )
    ]
    low, high = search.get("min_price"), search.get("max_price")
    if low is not None and high is not None:
        parts.append(f"${low:,.0f} to ${high:,.0f}")
    elif low is not None:
        parts.append(f"from ${low:,.0f}")
    elif high is not None:
        parts.append(f"up to ${high:,.0f}")
    if search.get("min_bedrooms"):
        parts.append(f"{search['min_bedrooms']}+ bedrooms")
    if search.get("type"):
        parts.append(str(search["type"]))
    return ", ".join(p for p in parts if p)
