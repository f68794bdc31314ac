"""Realtor.com sends each lead by email (required) and, when the team has the API, by the
API too: the two deliveries of one inquiry must make one lead.

The email carries no id the API knows, so the twin is found by the person (an email address
or phone the contact is known by) and the property (its ZIP, MLS number or street, when both
name one) within ``TWIN_WINDOW`` of each other. The second to arrive is captured as the first
one's inquiry: the email as the API lead (``source="realtor"``, its ``lead_guid``), the API
delivery as an update of the email lead (filling in what the email lacked).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from leads.data import LeadData
from leads.models import Lead

TWIN_WINDOW = dt.timedelta(days=3)


def realtor_twin(*, data: LeadData, of_source: str) -> Lead | None:
    """The lead of the other channel for the inquiry in ``data``: an API lead
    (``of_source="realtor"``) or a Realtor.com email's (``of_source="email"``); None."""
    person = Q()
    if data.email:
        person |= Q(contact__emails__email=data.email)
    if data.phone:
        person |= Q(contact__phones__phone=data.phone)
    if not person:
        return None
    leads = Lead.objects.filter(
        person,
        received_at__gte=data.received_at - TWIN_WINDOW,
        received_at__lte=data.received_at + TWIN_WINDOW,
    )
    if of_source == "realtor":
        leads = leads.filter(source="realtor")
    else:
        leads = leads.filter(source="email", extra__email__parser="realtor")
    for lead in leads.distinct().order_by("-received_at")[:10]:
        if same_property(lead, data):
            return lead
    return None


def same_property(lead: Lead, data: LeadData) -> bool:
    """Whether the two name the same property, or neither names one."""
    pairs = [
        (lead.mls_number.lower(), data.mls_number.lower()),
        (
            " ".join(lead.property_address.lower().split()),
            " ".join(data.property_address.lower().split()),
        ),
        (lead.property_zip, data.property_zip),
    ]
    compared = [(a, b) for a, b in pairs if a and b]
    if not compared:
        return True
    return compared[0][0] == compared[0][1]
