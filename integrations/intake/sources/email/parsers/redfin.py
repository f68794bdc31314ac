"""Redfin lead emails: Partner Agent referrals and tour requests (no public push API)."""

from __future__ import annotations

import re

from .vendor import LabelledVendorParser


class RedfinParser(LabelledVendorParser):
    key = "redfin"
    label = "Redfin email"
    domains = ("redfin.com",)
    subject = re.compile(
        r"(?:new redfin (?:referral|lead|partner referral)|redfin (?:partner )?referral|"
        r"tour request|(?P<name>[^:]+?) (?:wants to (?:tour|see)|requested a tour of) "
        r"(?P<address>.+))",
        re.IGNORECASE,
    )
    name_labels = ("Client", "Client Name", "Name", "Customer")
    phone_labels = ("Phone", "Client Phone", "Phone Number")
    email_labels = ("Email", "Client Email", "Email Address")
    address_labels = ("Property", "Home", "Address", "Property Address")
    extra_labels = ("Tour time", "Requested time", "Referral fee", "Redfin Agent")
