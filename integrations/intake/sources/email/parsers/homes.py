"""Homes.com lead emails (CoStar): no public lead API or template; the inquiry form's labels."""

from __future__ import annotations

import re

from .vendor import LabelledVendorParser


class HomesParser(LabelledVendorParser):
    key = "homes"
    label = "Homes.com email"
    domains = ("homes.com", "costar.com")
    subject = re.compile(
        r"(?:new (?:homes\.com )?(?:lead|inquiry|message)|inquiry (?:about|for)|"
        r"(?P<name>[^:]+?) (?:is interested in|has a question about|sent you a message about) "
        r"(?P<address>.+))",
        re.IGNORECASE,
    )
    extra_labels = ("Preferred contact", "Best time to contact", "Listing ID")
