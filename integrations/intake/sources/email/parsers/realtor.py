"""Realtor.com lead emails ("New realtor.com lead - <Name>", from realtor.com or move.com).

Most carry Real Estate Lead Metadata, which is read first; otherwise the labels ("First
Name", "Last Name", "Phone Number", "Property Address" with the address on the lines below).
Realtor.com also sends the same lead by its API (``/hooks/realtor/``): the email and the API
delivery of one inquiry make one lead (:mod:`integrations.intake.sources.realtor_twins`).
"""

from __future__ import annotations

import re

from integrations.intake.sources.email.message import Mail

from .base import ParsedEmail
from .leadmetadata import VERSION, lead_metadata, parsed_from_metadata
from .vendor import LabelledVendorParser


class RealtorParser(LabelledVendorParser):
    key = "realtor"
    label = "Realtor.com email"
    domains = ("realtor.com", "move.com")
    subject = re.compile(
        r"(?:new realtor\.com lead|realtor\.com lead|new lead from realtor\.com)"
        r"(?:\s*[-:]\s*(?P<name>.+))?",
        re.IGNORECASE,
    )
    message_labels = ("Message", "Comments", "Lead Message")
    mls_labels = ("MLS ID", "MLS", "MLS Number", "MLS #")

    def parse(self, mail: Mail) -> ParsedEmail:
        tags = lead_metadata(mail)
        parsed = parsed_from_metadata(tags) if VERSION in tags else super().parse(mail)
        parsed.source_detail = mail.subject[:150]
        return parsed
