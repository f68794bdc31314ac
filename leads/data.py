"""``LeadData``: the one shape that crosses from the integrations into the domain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class ConsentData:
    """One consent answer: the channel, yes or no, and the exact words the person saw."""

    channel: str
    granted: bool
    text: str
    obtained_at: dt.datetime
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonEvent:
    """Something a person did at a source that is not an inquiry (viewed or saved a property,
    searched): ``kind`` (the source's word), a sentence, and the facts as given."""

    kind: str
    summary: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LeadData:
    """A parsed inquiry, whatever its source. Phones are E.164, emails normalised.

    ``source`` and ``external_id`` together identify the inquiry: capturing the same pair
    twice gives one lead.
    """

    source: str
    external_id: str
    received_at: dt.datetime
    source_detail: str = ""
    team_id: int | None = None
    raw_event_id: int | None = None
    pinned_agent_id: int | None = None
    is_test: bool = False
    # The source says this is news about an inquiry it sent before (Zillow's Update and
    # Reassignment): capturing it again fills the lead in and re-pins it instead of being
    # ignored as a duplicate.
    is_update: bool = False
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    message: str = ""
    lead_type: str = "buyer"
    property_address: str = ""
    property_city: str = ""
    property_state: str = ""
    property_zip: str = ""
    mls_number: str = ""
    price: Decimal | None = None
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    gclid: str = ""
    fbclid: str = ""
    page_url: str = ""
    referrer: str = ""
    consents: tuple[ConsentData, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # More addresses the person gave besides ``email`` and ``phone`` (normalised alike): the
    # person is recognised by any of them, and each joins them unless another person has it.
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    LEAD_FIELDS = (
        "pinned_agent_id",
        "source_detail",
        "is_test",
        "lead_type",
        "message",
        "property_address",
        "property_city",
        "property_state",
        "property_zip",
        "mls_number",
        "price",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "gclid",
        "fbclid",
        "page_url",
        "referrer",
        "extra",
    )

    @property
    def all_emails(self) -> list[str]:
        return list(dict.fromkeys(e for e in (self.email, *self.emails) if e))

    @property
    def all_phones(self) -> list[str]:
        return list(dict.fromkeys(p for p in (self.phone, *self.phones) if p))

    def lead_fields(self) -> dict[str, Any]:
        """The values that are copied onto the ``Lead`` row as they are."""
        return {name: getattr(self, name) for name in self.LEAD_FIELDS}
