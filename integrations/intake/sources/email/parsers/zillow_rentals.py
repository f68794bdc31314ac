"""Zillow Rentals lead emails (Zillow Rental Manager, HotPads, Trulia rentals).

The sender is a per-conversation relay, ``"<Name>" <token@convo.zillow.com>``: mail to it
reaches the renter through Zillow, but it is not the renter's own address, so it is kept as
the lead's reply alias and never as the person's email. The subject names the listing: "<Name>
is requesting information about <street>, <city>, <ST>, <ZIP>" (or "... is requesting an
application" / "a tour"); the body has "<Name> says: <message>" and the renter's answers
(Move in, Credit score, Income, Pets, Phone when shared).
"""

from __future__ import annotations

import re

from integrations.intake.sources.email.message import Mail
from integrations.intake.sources.errors import ParseError
from integrations.intake.sources.values import split_name
from leads.models import Lead
from leads.normalize import normalize_email, normalize_phone

from .base import EmailParser, ParsedEmail, from_vendor
from .labelled import ADDRESS, labelled_fields, pick, split_address

SUBJECT = re.compile(
    r"^(?:(?:re|fwd?):\s*)*(?P<name>.+?) is requesting (?P<what>information|an application|a tour)"
    r"(?: about (?P<address>.+))?$",
    re.IGNORECASE,
)
LABELS = ("Move in", "Move-in date", "Credit score", "Income", "Pets", "Phone", "Email",
          "Lease length", "Occupants", "Bedrooms")  # fmt: skip
RELAY = "convo.zillow.com"


class ZillowRentalsParser(EmailParser):
    key = "zillow_rentals"
    label = "Zillow Rentals email"
    domains = ("zillow.com", "hotpads.com", "trulia.com")

    def recognises(self, mail: Mail) -> bool:
        if mail.from_domain == RELAY or mail.from_domain.endswith("." + RELAY):
            return True
        return from_vendor(mail, self.domains) and bool(SUBJECT.match(mail.subject))

    def parse(self, mail: Mail) -> ParsedEmail:
        subject = SUBJECT.match(mail.subject)
        display, relay = mail.sender
        name = (subject["name"] if subject else "") or display
        if not name:
            raise ParseError("Zillow Rentals email: no renter's name in the subject or sender.")
        text = mail.text
        address = subject["address"] if subject and subject["address"] else ""
        if not address and (found := ADDRESS.search(text)):
            address = found.group(0)
        if not address:
            raise ParseError(
                'Zillow Rentals email: no listing address in the subject ("... is requesting '
                'information about <address>") or the body: has the template changed?'
            )
        street, city, state, zip_code = split_address(address)
        says = re.search(
            rf"{re.escape(name.split()[0])}[^\n:]*? says:\s*(?P<message>.+?)(?:\n\s*\n|$)",
            text,
            re.IGNORECASE | re.DOTALL,
        )
        fields = labelled_fields(text, LABELS)
        first, last = split_name(name)
        answers = {
            key: value
            for key, value in (
                ("move_in", pick(fields, "Move in", "Move-in date")),
                ("credit_score", pick(fields, "Credit score")),
                ("income", pick(fields, "Income")),
                ("pets", pick(fields, "Pets")),
                ("lease_length", pick(fields, "Lease length")),
                ("occupants", pick(fields, "Occupants")),
                ("bedrooms", pick(fields, "Bedrooms")),
            )
            if value and value.lower() not in ("not answered", "n/a")
        }
        is_relay = relay.endswith(RELAY)
        return ParsedEmail(
            first_name=first,
            last_name=last,
            email=normalize_email(pick(fields, "Email")),
            phone=normalize_phone(pick(fields, "Phone")),
            message=" ".join(says["message"].split())[:5000] if says else "",
            lead_type=Lead.Type.RENTER,
            property_address=street,
            property_city=city,
            property_state=state,
            property_zip=zip_code,
            source_detail=(subject["what"].capitalize() if subject else "Inquiry"),
            reply_alias=relay if is_relay else "",
            extra={"zillow_rentals": answers} if answers else {},
        )
