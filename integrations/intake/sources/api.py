"""Leads sent through our own REST API (``POST /api/v1/leads/``).

The request is authenticated and validated at the door by :mod:`integrations.intake.api`,
stored raw like every source's (:func:`integrations.intake.services.lead_request_create`),
and parsed here on the queue with the same serializer, so a lead made through the API is
received, de-duplicated and routed exactly like one from a vendor.
"""

from __future__ import annotations

import json

from django.utils.dateparse import parse_datetime

from integrations.intake.models import InboundEvent
from integrations.intake.sources.base import ParseError, Source
from leads.data import ConsentData, LeadData
from leads.inputs import InputError, read_json
from leads.serializers import LeadCreateSerializer

LEAD_TEXT_FIELDS = (
    "message", "property_address", "property_city", "property_state", "property_zip",
    "mls_number", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    "gclid", "fbclid", "page_url", "referrer",
)  # fmt: skip


class ApiSource(Source):
    key = "api"
    label = "REST API"
    leads_carry_team = True
    kept_headers = (*Source.kept_headers, "idempotency-key")

    def parse(self, event: InboundEvent) -> list[LeadData]:
        try:
            payload = read_json(bytes(event.body))
        except InputError as exc:
            raise ParseError(exc.message) from exc
        serializer = LeadCreateSerializer(data=payload)
        if not serializer.is_valid():
            raise ParseError(json.dumps(serializer.errors))
        data = serializer.validated_data
        team_id = event.meta.get("team_id")
        if not isinstance(team_id, int):
            raise ParseError("The event does not say which team sent it (meta.team_id).")
        received_at = parse_datetime(event.meta.get("received_at", "")) or event.received_at
        evidence = {
            "ip": event.remote_addr,
            "user_agent": event.headers.get("user-agent", ""),
            "api_user": event.meta.get("user_id"),
        }
        consents = tuple(
            ConsentData(c["channel"], c["granted"], c["text"], received_at, evidence)
            for c in data.get("consents", [])
        )
        return [
            LeadData(
                source=self.key,
                source_detail=data.get("source_detail", "").strip() or "REST API",
                external_id=event.external_id or f"event:{event.public_id}",
                received_at=received_at,
                team_id=team_id,
                raw_event_id=event.pk,
                first_name=data.get("first_name", "").strip(),
                last_name=data.get("last_name", "").strip(),
                email=data.get("email", ""),
                phone=data.get("phone", ""),
                lead_type=data["lead_type"],
                price=data.get("price"),
                consents=consents,
                **{name: str(data.get(name, "")).strip() for name in LEAD_TEXT_FIELDS},  # type: ignore[arg-type]
            )
        ]
