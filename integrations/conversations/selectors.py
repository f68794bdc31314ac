"""Reads of the conversations: may this person be texted, their thread, who may see it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import phonenumbers
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from integrations.alerts.channels import sms
from integrations.alerts.faults import first_sent_after
from leads import selectors as leads_selectors
from leads.models import Consent, Contact, Lead

from .models import Message

# The origin of every consent recorded from the SMS channel itself (STOP, START, 21610).
OPT_OUT_ORIGIN = "sms:"


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
    answers = list(
        Consent.objects.filter(contact_id=contact.pk, channel=Consent.Channel.SMS).order_by(
            "-obtained_at", "-id"
        )[:50]
    )
    if not answers:
        return Permission(False, "No SMS consent from this person.")
    # A STOP texted back (or Twilio's 21610) holds until the person texts START: a later
    # form's tick does not lift it (nor would Twilio, which blocks the number until START).
    texted = next((c for c in answers if c.origin.startswith(OPT_OUT_ORIGIN)), None)
    if texted is not None and not texted.granted:
        when = texted.obtained_at.date().isoformat()
        return Permission(False, f"Opted out: {texted.text[:40]!r} on {when}.")
    consent = answers[0]
    if not consent.granted:
        when = consent.obtained_at.date().isoformat()
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


def text_sent_after(channel: str, since: dt.datetime) -> dt.datetime | None:
    """When the first text to a person sent after ``since`` went: it ends an SMS sending
    fault (``integrations.alerts.faults``)."""
    if channel != Message.Channel.SMS:
        return None
    return first_sent_after(Message.objects.filter(channel=Message.Channel.SMS), since)
