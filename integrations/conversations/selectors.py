"""Reads of the conversations: may this person be texted, their thread, who may see it."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from integrations.alerts.channels import sms
from leads import selectors as leads_selectors
from leads.models import Consent, Contact, Lead

from .models import Message


def textable(phone: str) -> bool:
    """Whether ``phone`` (E.164) can take a text: valid, and not a fixed line only (a US
    "fixed line or mobile" number is textable: the library cannot tell them apart)."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    if not phonenumbers.is_valid_number(number):
        return False
    return phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.FIXED_LINE


@dataclass(frozen=True)
class Permission:
    """Whether a channel may be used to reach a person now, and why not, in words."""

    allowed: bool
    reason: str = ""
    to: str = ""


def sms_permission(contact: Contact) -> Permission:
    """Whether Leadline may text ``contact``: SMS set up, a textable number, and their latest
    SMS consent a yes (a STOP texted back is a no until they text START)."""
    if not sms.configured():
        return Permission(False, "SMS is not set up (Twilio settings).")
    phone = contact.phone
    if not phone:
        return Permission(False, "No phone number for this person.")
    if not textable(phone):
        return Permission(False, f"{phone} is a landline: it cannot take texts.")
    consent = leads_selectors.consent_latest(contact_id=contact.pk, channel=Consent.Channel.SMS)
    if consent is None:
        return Permission(False, "No SMS consent from this person.")
    if not consent.granted:
        when = consent.obtained_at.date().isoformat()
        if consent.origin.startswith("sms"):
            return Permission(False, f"Opted out: texted {consent.text[:20]!r} on {when}.")
        return Permission(False, f"This person refused SMS ({consent.origin}, {when}).")
    return Permission(True, to=phone)


def may_see_thread(*, user: AbstractBaseUser | AnonymousUser, lead: Lead) -> bool:
    """The assigned agent and the team's manager see the person's thread; nobody else (an
    agent who sees a pool lead or an offer does not read the conversation)."""
    return leads_selectors.lead_access(user=user, lead=lead).work


def thread(*, contact_id: int, limit: int = 200) -> list[Message]:
    """The person's messages, oldest first (the latest ``limit``)."""
    rows = list(
        Message.objects.filter(contact_id=contact_id)
        .select_related("author")
        .order_by("-created_at", "-id")[:limit]
    )
    rows.reverse()
    return rows


def unread_contacts(*, contact_ids: list[int]) -> set[int]:
    """Of ``contact_ids``, the people whose texts no agent has opened yet (one query)."""
    return set(
        Message.objects.filter(
            contact_id__in=contact_ids,
            direction=Message.Direction.INBOUND,
            read_at__isnull=True,
        ).values_list("contact_id", flat=True)
    )


def messages_of(*, lead: Lead) -> QuerySet[Message]:
    return Message.objects.filter(contact_id=lead.contact_id).select_related("author")
