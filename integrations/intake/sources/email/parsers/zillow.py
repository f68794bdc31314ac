"""Zillow Premier Agent lead emails (buyer and seller inquiries, tour requests).

Zillow publishes no template and changes it (brokers report parsers breaking), so this reads
labels rather than positions, and a message from Zillow that has none of them fails with the
reason, to be replayed once the parser is fixed. Rentals, from the convo relay, are
:mod:`.zillow_rentals`'s.
"""

from __future__ import annotations

import re

from .vendor import LabelledVendorParser


class ZillowPremierAgentParser(LabelledVendorParser):
    key = "zillow"
    label = "Zillow Premier Agent email"
    domains = ("zillow.com", "trulia.com")
    subject = re.compile(
        r"(?:new (?:zillow |trulia )?(?:contact|lead|buyer|seller)|"
        r"(?P<name>[^:]+?) (?:wants to tour|is interested in|requested a tour of|"
        r"has a question about|wants to sell) (?P<address>.+))",
        re.IGNORECASE,
    )
    message_labels = ("Message", "Their message", "Comments")
    address_labels = ("Property", "Property Address", "Listing", "Address")
    extra_labels = ("Tour date", "Requested tour time", "Financing", "Timeframe", "Zillow profile")
