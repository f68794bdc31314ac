"""Real Estate Lead Metadata 1.0 (leadmetadata.org): ``<meta name="lead_*">`` tags in the
HTML part, in ``<head>`` or, as some vendors put them, anywhere in the document.

Used by Realtor.com, Opcity and many IDX vendors. ``lead_information_version`` must be
present; every field of the standard is mapped, ``lead_max_price`` is the lead's price,
``lead_primary_zip`` routes when the property has no ZIP, ``lead_assigned_agent[_email|_phone]``
is a pin (believed only when the sender authenticated), and every other ``lead_*`` tag is kept
on the lead (``extra["lead_metadata"]``).
"""

from __future__ import annotations

import re

from integrations.intake.sources.email.message import Mail
from integrations.intake.sources.errors import ParseError
from integrations.intake.sources.values import decimal, split_name, state_code, text
from leads.models import Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip

from .base import EmailParser, ParsedEmail

VERSION = "lead_information_version"
TYPES = {"buyer": Lead.Type.BUYER, "seller": Lead.Type.SELLER, "renter": Lead.Type.RENTER}
# The standard's fields that become the lead's own; the rest are kept as they came.
MAPPED = frozenset(
    [
        "lead_information_version",
        "lead_source",
        "lead_type",
        "lead_name",
        "lead_email",
        "lead_phone",
        "lead_message",
        "lead_property_address",
        "lead_property_city",
        "lead_property_state",
        "lead_property_zip",
        "lead_mls",
        "lead_max_price",
        "lead_assigned_agent",
        "lead_assigned_agent_email",
        "lead_assigned_agent_phone",
    ]
)
MAX_CUSTOM = 100
# "123 Main Street, Alexandria, VA 22314": the city, state and ZIP at the end of an address.
ADDRESS_TAIL = re.compile(
    r"^(?P<street>.+?),\s*(?P<city>[^,]+?),\s*(?P<state>[A-Za-z]{2})\s+(?P<zip>\d{5})(?:-\d{4})?$"
)


def lead_metadata(mail: Mail) -> dict[str, str]:
    """The ``lead_*`` meta tags of the HTML part (the first value of each name), lower-cased
    names; empty when the message has none."""
    found: dict[str, str] = {}
    for name, content in mail.html_read.meta:
        key = name.strip().lower()
        if key.startswith("lead_") and key not in found:
            found[key] = " ".join(content.split()) if key != "lead_message" else content.strip()
    return found


class LeadMetadataParser(EmailParser):
    key = "leadmetadata"
    label = "Real Estate Lead Metadata 1.0"

    def recognises(self, mail: Mail) -> bool:
        return "lead_information_version" in mail.html.lower() and VERSION in lead_metadata(mail)

    def parse(self, mail: Mail) -> ParsedEmail:
        return parsed_from_metadata(lead_metadata(mail))


def parsed_from_metadata(tags: dict[str, str]) -> ParsedEmail:
    """The inquiry the tags describe; ``ParseError`` when it names nobody to reach."""
    version = tags.get(VERSION, "")
    if not version:
        raise ParseError(f"{VERSION}: missing; a Lead Metadata email must state its version.")
    if not version.startswith("1."):
        raise ParseError(f"{VERSION}: {version[:20]!r} is not a version this parser reads (1.x).")
    email = normalize_email(text(tags.get("lead_email")))
    phone = normalize_phone(text(tags.get("lead_phone")))
    if not email and not phone:
        raise ParseError("lead_email, lead_phone: both missing or unreadable; nobody to contact.")
    first, last = split_name(text(tags.get("lead_name")))
    address = text(tags.get("lead_property_address"), 255)
    city = text(tags.get("lead_property_city"), 100)
    state = state_code(tags.get("lead_property_state"))
    zip_code = normalize_zip(text(tags.get("lead_property_zip")))
    if (tail := ADDRESS_TAIL.match(address)) and not (city or state or zip_code):
        address, city = tail["street"].strip(), tail["city"].strip()
        state, zip_code = tail["state"].upper(), tail["zip"]
    custom = {k: v for k, v in tags.items() if k not in MAPPED and v}
    if not zip_code and (primary := normalize_zip(text(tags.get("lead_primary_zip")))):
        zip_code = primary  # where the person searches: the lead routes by it
    source = text(tags.get("lead_source"), 100)
    return ParsedEmail(
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        message=text(tags.get("lead_message"), 5000),
        lead_type=TYPES.get(text(tags.get("lead_type")).lower(), Lead.Type.BUYER),
        property_address=address,
        property_city=city,
        property_state=state,
        property_zip=zip_code,
        mls_number=text(tags.get("lead_mls"), 50),
        price=decimal(tags.get("lead_max_price")),
        source_detail=source,
        assigned_agent_name=text(tags.get("lead_assigned_agent"), 120),
        assigned_agent_email=normalize_email(text(tags.get("lead_assigned_agent_email"))),
        assigned_agent_phone=normalize_phone(text(tags.get("lead_assigned_agent_phone"))),
        extra={"lead_metadata": dict(list(custom.items())[:MAX_CUSTOM])},
    )
