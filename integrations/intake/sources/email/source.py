"""Lead emails: the ``email`` source.

Every door (``manage.py email_ingest``, the IMAP poller, the providers' inbound webhooks)
stores the raw RFC 822 message with :func:`email_store` as an event of this source, keyed on
its Message-ID (a hash of its content when it has none), so one message reaching us by two
doors, or twice by one, is one event. The worker then parses it here:

1. The recipient decides the team (``<team>@EMAIL_INTAKE_DOMAIN``) and may pin an agent
   (``<team>+<agent>@...``); an address that is no team's leaves the event ignored with the
   address, shown on the lead-sources health page.
2. The first parser in the registry that recognises the message reads the inquiry out of it.
3. The sender's authentication decides what is believed: a vendor parser's message whose
   vendor domain did not authenticate (and any message whose From domain did not) is captured
   flagged "sender not verified", and the assignments it carries are ignored.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from django.db.models import Q

from integrations.intake.models import InboundEvent
from integrations.intake.services import StoreResult, event_store
from integrations.intake.sources.base import Ignored, ParseError, Source
from integrations.intake.sources.realtor_twins import realtor_twin
from leads.data import LeadData
from leads.inputs import clean_text
from leads.models import Agent

from .addresses import Recipient, recipient_resolve
from .message import Mail, NotAMessage, message_id, message_key, read_message, recipient_candidates
from .parsers import parsers
from .parsers.base import EmailParser, ParsedEmail
from .trust import Authentication, authenticate

CONTENT_TYPE = "message/rfc822"
NOT_VERIFIED = "sender not verified"


def email_store(
    *, raw: bytes, door: str, recipient: str = "", meta: dict[str, Any] | None = None
) -> StoreResult:
    """Store one raw message that came through ``door`` (``pipe``, ``imap``, a provider).

    Idempotent on the message's key: the same message again (by any door) returns the first
    event with ``created=False``. Bytes that are not a message are stored too, failed with
    the reason (keyed on their hash), so nothing is dropped silently; the caller says so.
    """
    recipient = clean_text(recipient)  # a NUL in a provider's field is no address, nor storable
    try:
        message = read_message(raw)
    except NotAMessage as exc:
        return event_store(
            source=EmailSource.key,
            body=raw,
            content_type="application/octet-stream",
            external_id=message_key(None, raw),
            meta={"door": door, "recipient": recipient, **(meta or {})},
            status=InboundEvent.Status.FAILED,
            error=str(exc),
        )
    return event_store(
        source=EmailSource.key,
        body=raw,
        content_type=CONTENT_TYPE,
        external_id=message_key(message, raw),
        meta={"door": door, "recipient": recipient.strip().lower(), **(meta or {})},
    )


def email_post_unreadable(*, body: bytes, content_type: str, door: str, reason: str) -> StoreResult:
    """Store an authentic provider post from which no message could be read, failed with
    ``reason``, keyed on its hash (the same post again is the same event)."""
    return event_store(
        source=EmailSource.key,
        body=body,
        content_type=content_type,
        external_id="post-sha256:" + hashlib.sha256(body).hexdigest(),
        meta={"door": door, "unreadable_post": reason},
        status=InboundEvent.Status.FAILED,
        error=reason,
    )


class EmailSource(Source):
    key = "email"
    label = "Email"
    # No hook of its own: the providers' webhooks are anymail's, under /hooks/email/.

    def parse(self, event: InboundEvent) -> list[LeadData]:
        raw = bytes(event.body)
        if unreadable := event.meta.get("unreadable_post"):  # a provider's post, no message
            raise ParseError(str(unreadable))
        try:
            message = read_message(raw)
        except NotAMessage as exc:
            raise ParseError(str(exc)) from exc
        given = str(event.meta.get("recipient") or "")
        recipient = recipient_resolve([given] if given else recipient_candidates(message))
        if not recipient.known:
            raise Ignored(
                f"Unknown recipient {recipient.address or '(none)'}: no team has this lead address."
            )
        mail = Mail(message, raw, recipient.address)
        parser = next(p for p in parsers() if p.recognises(mail))
        try:
            parsed = parser.parse(mail)
        except ParseError as exc:
            # Named after its parser: the health page counts each vendor's failures.
            reason = str(exc)
            prefix = f"{parser.label}: "
            raise ParseError(reason if reason.startswith(prefix) else prefix + reason) from exc
        if parsed is None:
            raise Ignored(f"Not an inquiry ({parser.label}): no lead in this email.")
        door = str(event.meta.get("door") or "")
        auth = authenticate(mail, door=door)
        return [lead_data(event, mail, recipient, parser, parsed, auth)]


def verified_for(parser: EmailParser, mail: Mail, auth: Authentication) -> bool:
    """Whether the message is believed: the vendor's domain (for a vendor parser) or the From
    address's domain authenticated it."""
    if parser.domains:
        return auth.any_of(parser.domains)
    return bool(mail.from_domain) and auth.covers(mail.from_domain)


def assigned_agent(parsed: ParsedEmail, recipient: Recipient) -> Agent | None:
    """The team's agent the sender assigned the lead to, by email, phone, then name."""
    agents = Agent.objects.filter(team=recipient.team, is_active=True)
    wanted = Q()
    if parsed.assigned_agent_email:
        wanted |= Q(email__iexact=parsed.assigned_agent_email)
    if parsed.assigned_agent_phone:
        wanted |= Q(mobile_phone=parsed.assigned_agent_phone)
    if parsed.assigned_agent_name:
        wanted |= Q(display_name__iexact=parsed.assigned_agent_name)
    return agents.filter(wanted).first() if wanted else None


def lead_data(
    event: InboundEvent,
    mail: Mail,
    recipient: Recipient,
    parser: EmailParser,
    parsed: ParsedEmail,
    auth: Authentication,
) -> LeadData:
    verified = verified_for(parser, mail, auth)
    pinned: int | None = recipient.agent.pk if recipient.agent else None
    if pinned is None and verified:
        if parsed.pinned_agent_id is not None:
            pinned = parsed.pinned_agent_id
        elif agent := assigned_agent(parsed, recipient):
            pinned = agent.pk
    detail = parser.label + (f": {parsed.source_detail}" if parsed.source_detail else "")
    if not verified:
        detail = f"{detail} · {NOT_VERIFIED}"
    email_facts: dict[str, Any] = {
        "parser": parser.key,
        "door": str(event.meta.get("door") or ""),
        "recipient": recipient.address,
        "from": mail.from_address,
        "subject": mail.subject[:300],
        "message_id": message_id(mail.message),
        "sender_verified": verified,
        "authentication": auth.as_dict(),
    }
    if parsed.reply_alias:
        email_facts["reply_alias"] = parsed.reply_alias
    if not verified and (parsed.assigned_agent_email or parsed.assigned_agent_name):
        email_facts["assignment_ignored"] = (
            parsed.assigned_agent_email or parsed.assigned_agent_name
        )
    use_vendor_id = verified and parsed.source and parsed.external_id
    data = LeadData(
        source=parsed.source if use_vendor_id else EmailSource.key,
        external_id=parsed.external_id if use_vendor_id else event.external_id,
        received_at=event.received_at,
        raw_event_id=event.pk,
        source_detail=detail[:200],
        team_id=recipient.team.pk if recipient.team else None,
        pinned_agent_id=pinned,
        first_name=parsed.first_name,
        last_name=parsed.last_name,
        email=parsed.email,
        phone=parsed.phone,
        message=parsed.message,
        lead_type=parsed.lead_type,
        property_address=parsed.property_address,
        property_city=parsed.property_city,
        property_state=parsed.property_state,
        property_zip=parsed.property_zip,
        mls_number=parsed.mls_number,
        price=parsed.price,
        page_url=parsed.page_url,
        extra={**parsed.extra, "email": email_facts},
    )
    # Realtor.com also sends its leads by API: the one that came that way is this one.
    realtor = parser.key == "realtor" and verified and not use_vendor_id
    if realtor and (twin := realtor_twin(data=data, of_source="realtor")):
        data = replace(data, source=twin.source, external_id=twin.external_id)
    return data
