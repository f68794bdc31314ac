"""The shape most portals' lead emails share: the vendor's sender, a subject naming the
inquiry, and "Label: value" lines for the person and the property. A vendor's parser is a
:class:`LabelledVendorParser` with its domains, its subject pattern and its labels."""

from __future__ import annotations

import re
from typing import ClassVar

from integrations.intake.sources.email.message import Mail
from integrations.intake.sources.errors import ParseError
from integrations.intake.sources.values import decimal, split_name, state_code
from leads.models import Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip

from .base import EmailParser, ParsedEmail, from_vendor
from .labelled import ADDRESS, fold_label, labelled_fields, pick, split_address

TYPES = {"buyer": Lead.Type.BUYER, "seller": Lead.Type.SELLER, "renter": Lead.Type.RENTER}


class LabelledVendorParser(EmailParser):
    """A vendor's lead email read from its labels.

    ``subject`` must match for the message to be a lead (the vendor's other mail, receipts
    and newsletters, is not); its ``name`` and ``address`` groups are used when the body
    lacks them. Each ``*_labels`` lists the vendor's spellings, the usual first.
    """

    subject: ClassVar[re.Pattern[str]]
    name_labels: ClassVar[tuple[str, ...]] = ("Name", "Full Name", "Contact Name")
    first_name_labels: ClassVar[tuple[str, ...]] = ("First Name",)
    last_name_labels: ClassVar[tuple[str, ...]] = ("Last Name",)
    email_labels: ClassVar[tuple[str, ...]] = ("Email", "Email Address", "E-mail")
    phone_labels: ClassVar[tuple[str, ...]] = ("Phone", "Phone Number", "Mobile")
    message_labels: ClassVar[tuple[str, ...]] = ("Message", "Comments", "Comment", "Note")
    address_labels: ClassVar[tuple[str, ...]] = ("Property Address", "Property", "Address")
    city_labels: ClassVar[tuple[str, ...]] = ("City",)
    state_labels: ClassVar[tuple[str, ...]] = ("State",)
    zip_labels: ClassVar[tuple[str, ...]] = ("Zip", "ZIP Code", "Postal Code")
    mls_labels: ClassVar[tuple[str, ...]] = ("MLS", "MLS ID", "MLS Number", "MLS #")
    price_labels: ClassVar[tuple[str, ...]] = ("Price", "List Price", "Listing Price")
    type_labels: ClassVar[tuple[str, ...]] = ("Lead Type", "Type")
    extra_labels: ClassVar[tuple[str, ...]] = ()

    def recognises(self, mail: Mail) -> bool:
        return from_vendor(mail, self.domains) and bool(self.subject.search(mail.subject))

    def labels(self) -> tuple[str, ...]:
        return (
            *self.name_labels, *self.first_name_labels, *self.last_name_labels,
            *self.email_labels, *self.phone_labels, *self.message_labels,
            *self.address_labels, *self.city_labels, *self.state_labels, *self.zip_labels,
            *self.mls_labels, *self.price_labels, *self.type_labels, *self.extra_labels,
        )  # fmt: skip

    def parse(self, mail: Mail) -> ParsedEmail:
        subject = self.subject.search(mail.subject)
        groups = subject.groupdict() if subject else {}
        fields = labelled_fields(mail.text, self.labels())
        first = pick(fields, *self.first_name_labels)
        last = pick(fields, *self.last_name_labels)
        if not (first or last):
            first, last = split_name(pick(fields, *self.name_labels) or (groups.get("name") or ""))
        email = normalize_email(pick(fields, *self.email_labels))
        phone = normalize_phone(pick(fields, *self.phone_labels))
        if not email and not phone:
            raise ParseError(
                f"{self.label}: no email or phone found (labels "
                f"{', '.join(self.email_labels[:1] + self.phone_labels[:1])}): has the "
                "template changed?"
            )
        address = pick(fields, *self.address_labels) or (groups.get("address") or "")
        street, city, state, zip_code = split_address(address)
        if not zip_code and (found := ADDRESS.search(mail.text)) and not address:
            street, city, state, zip_code = split_address(found.group(0))
        city = pick(fields, *self.city_labels)[:100] or city
        state = state_code(pick(fields, *self.state_labels)) or state
        zip_code = normalize_zip(pick(fields, *self.zip_labels)) or zip_code
        kind = pick(fields, *self.type_labels).lower()
        extra = {
            fold_label(label).replace(" ", "_"): value
            for label in self.extra_labels
            if (value := pick(fields, label))
        }
        return ParsedEmail(
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            message=pick(fields, *self.message_labels)[:5000],
            lead_type=next((t for word, t in TYPES.items() if word in kind), Lead.Type.BUYER),
            property_address=street,
            property_city=city,
            property_state=state,
            property_zip=zip_code,
            mls_number=pick(fields, *self.mls_labels)[:50],
            price=decimal(pick(fields, *self.price_labels)),
            source_detail=mail.subject[:150],
            extra={self.key: extra} if extra else {},
        )
