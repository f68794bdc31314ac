"""The life of a message to or from a person.

- ``message_send`` checks the agent may write to the person and the person may be texted
  (SMS consent, not opted out), writes the row and rings the queue after the commit.
- ``message_deliver`` makes one attempt at a due row (safe to call any number of times); the
  person's consent is read again at that moment, so a STOP that arrives while a text waits
  stops it.
- ``message_status_record`` moves a message on with what Twilio reports.
- ``messages_sweep`` rings for rows whose time has come (retries, waits, lost tasks).

Twilio's errors are read by the alerts' SMS channel (``channels/sms.py``), one
classification for agents' alerts and leads' texts: retry, permanent for this person (21610:
they opted out, which is recorded as their answer), or our configuration (a
``SendingFault``: operations mailed once, shown on ``/healthz``).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections.abc import Mapping
from contextlib import nullcontext
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from integrations.alerts.channels import sms
from integrations.alerts.channels.base import DeliveryError
from integrations.alerts.faults import sending_fault_record
from integrations.alerts.models import AgentAlert
from integrations.alerts.services import alerts_create
from integrations.lib.backoff import backoff
from integrations.lib.queue import enqueue_on_commit, in_worker
from integrations.webhooks.models import WebhookSubscription
from integrations.webhooks.services import webhooks_enqueue, webhooks_listening
from leads import live
from leads import selectors as leads_selectors
from leads import services as leads_services
from leads.data import ConsentData, LeadData
from leads.inputs import clean_text
from leads.models import Agent, Consent, Contact, ContactPhone, Lead, Team
from leads.normalize import normalize_phone

from .models import Message, TeamMessaging
from .selectors import OPT_OUT_ORIGIN, sms_permission

logger = logging.getLogger(__name__)

SEND_TASK = "integrations.conversations.tasks.send"
LEASE = dt.timedelta(seconds=60)
MAX_BODY = 1600  # Twilio's limit for one message
RANK: dict[str, int] = {
    Message.Status.QUEUED: 0,
    Message.Status.SENT: 1,
    Message.Status.DELIVERED: 2,
    Message.Status.UNDELIVERED: 2,
    Message.Status.FAILED: 2,
    Message.Status.CANCELED: 2,
}
TWILIO_STATUSES = {
    "sending": Message.Status.SENT,
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "read": Message.Status.DELIVERED,
    "undelivered": Message.Status.UNDELIVERED,
    "failed": Message.Status.FAILED,
}


class NoConsent(Exception):
    """The person may not be texted: no SMS consent, opted out, no textable number."""


def message_data(message: Message) -> dict[str, Any]:
    """A message as the API and the outbound webhooks show it."""
    return {
        "id": message.pk,
        "contact": message.contact_id,
        "lead": message.lead_id,
        "direction": message.direction,
        "kind": message.kind,
        "channel": message.channel,
        "status": message.status,
        "body": message.body,
        "media": message.media,
        "author": message.author.display_name if message.author else None,
        "error_code": message.error_code,
        "error": message.last_error,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
    }


def sender_for(team_id: int | None) -> dict[str, str]:
    """The team's own Twilio sender, when it has one; else the settings' (empty)."""
    own = TeamMessaging.objects.filter(team_id=team_id).first() if team_id else None
    if own is None:
        return {}
    if own.messaging_service_sid:
        return {"messaging_service_sid": own.messaging_service_sid}
    return {"from_number": own.from_number} if own.from_number else {}


# --- Sending ---------------------------------------------------------------------------------


def message_send(*, lead: Lead, agent: Agent, body: str) -> Message:
    """The agent's text to the person of ``lead``, through the team's number.

    Only the assigned agent or the team's manager writes (``PermissionDenied``); an empty or
    too long body is a ``ValueError`` naming ``body``; a person who may not be texted is
    ``NoConsent``, with the reason in words.
    """
    access = leads_selectors.lead_access(user=agent.user, lead=lead)
    if not access.work:
        raise PermissionDenied("Only the lead's agent or the team's manager can text the person.")
    body = body.strip()
    if not body:
        raise ValueError("body: Write something to send.")
    if clean_text(body) != body:
        raise ValueError("body: Remove the NUL or unreadable character; a text cannot carry it.")
    if len(body) > MAX_BODY:
        raise ValueError(f"body: At most {MAX_BODY} characters (this is {len(body)}).")
    contact = Contact.objects.get(pk=lead.contact_id)
    permission = sms_permission(contact)
    if not permission.allowed:
        raise NoConsent(permission.reason)
    return message_queue(contact=contact, lead=lead, body=body, to=permission.to, author=agent)


def message_queue(
    *,
    contact: Contact,
    lead: Lead | None,
    body: str,
    to: str,
    author: Agent | None = None,
    kind: str = Message.Kind.MESSAGE,
    channel: str = Message.Channel.SMS,
    subject: str = "",
    due: dt.datetime | None = None,
    here_if_worker: bool = False,
) -> Message:
    """Write an outbound message and have it sent after the commit (when it is due now).

    ``here_if_worker``, in a queue worker: this process sends it itself after the commit,
    and the row is written already claimed for that attempt (a lease on ``next_attempt_at``,
    as ``message_deliver`` claims one): should the process die first, the sweeper sends it
    when the lease runs out."""
    now = timezone.now()
    due = due or now
    here = here_if_worker and due <= now and in_worker()
    message = Message.objects.create(
        contact=contact, lead=lead, team_id=lead.team_id if lead else None,
        direction=Message.Direction.OUTBOUND, kind=kind, channel=channel, body=body,
        subject=subject, to=to, author=author,
        next_attempt_at=now + LEASE if here else due, attempts=1 if here else 0,
    )  # fmt: skip
    if here:
        transaction.on_commit(lambda: _deliver_claimed(message.pk))
    elif due <= now:
        enqueue_on_commit(SEND_TASK, message.pk, task_name=f"message-{message.pk}")
    return message


def _deliver_claimed(message_id: int) -> None:
    """Send a message written claimed for this process; an error is logged and leaves the
    row to the sweeper."""
    try:
        _attempt(message_id)
    except Exception:
        logger.exception("message %s failed in this worker; the sweeper will retry", message_id)


def retry_wait(attempt: int) -> dt.timedelta:
    """As agent alerts: doubling from ``ALERT_RETRY_BASE_SECONDS``, jittered."""
    return dt.timedelta(
        seconds=backoff(attempt, base=settings.ALERT_RETRY_BASE_SECONDS, jitter=0.5)
    )


def message_deliver(*, message_id: int) -> Message | None:
    """One attempt at a due outbound message; safe to call any number of times.

    Claimed by a conditional UPDATE (a lease), like an agent alert. The person's consent is
    read now: a STOP that arrived since the message was written cancels it.
    """
    now = timezone.now()
    claimed = Message.objects.filter(
        pk=message_id,
        status=Message.Status.QUEUED,
        direction=Message.Direction.OUTBOUND,
        next_attempt_at__lte=now,
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return _attempt(message_id)


def _attempt(message_id: int) -> Message:
    """One attempt at a message claimed for it."""
    message = Message.objects.select_related(
        "contact", "lead__contact", "lead__team", "lead__assigned_agent", "author"
    ).get(pk=message_id)
    if message.lead is not None and message.lead.is_test:
        _finish(message, Message.Status.CANCELED, error="Not sent: a test lead.")
        return message
    if message.channel == Message.Channel.EMAIL:
        _write_greeting(message)
        return _email_send(message)
    permission = sms_permission(message.contact)
    if not permission.allowed:
        _finish(message, Message.Status.CANCELED, error=f"Not sent: {permission.reason}")
        return message
    _write_greeting(message)
    sender = sender_for(message.team_id)
    try:
        sid = sms.send_text(
            to=permission.to,
            body=message.body,
            status_callback=settings.SITE_URL + reverse("conversations:twilio_status"),
            from_number=sender.get("from_number", ""),
            messaging_service_sid=sender.get("messaging_service_sid", ""),
        )
    except DeliveryError as exc:
        _failed(message, exc)
        return message
    message_sent(message, provider_id=sid)
    return message


def _write_greeting(message: Message) -> None:
    """An instant reply's words, written now: they name the agent the lead has now (read
    with the message)."""
    if message.kind != Message.Kind.GREETING or message.lead is None:
        return
    from .greetings import greeting_render

    greeting = greeting_render(message.lead, message.channel)
    message.body, message.subject = greeting.body, greeting.subject
    Message.objects.filter(pk=message.pk).update(body=message.body, subject=message.subject)


def _email_send(message: Message) -> Message:
    """An email to the person (the instant reply when they cannot be texted)."""
    email = EmailMessage(
        subject=message.subject, body=message.body, to=[message.to],
        headers={"Message-ID": make_msgid(domain="leadline")},
    )  # fmt: skip
    try:
        email.send()
    except smtplib.SMTPResponseException as exc:
        permanent = 500 <= exc.smtp_code < 600
        _failed(message, DeliveryError(f"SMTP {exc.smtp_code}", permanent=permanent))
        return message
    except (smtplib.SMTPException, OSError) as exc:
        _failed(message, DeliveryError(f"Mail server unreachable: {type(exc).__name__}"))
        return message
    message_sent(message, provider_id=str(email.extra_headers["Message-ID"]))
    return message


def message_sent(message: Message, *, provider_id: str) -> None:
    """The provider took the message: the row says so and the ``message.sent`` event goes."""
    now = timezone.now()
    changes: dict[str, Any] = {
        "status": Message.Status.SENT, "provider_id": provider_id, "sent_at": now,
        "next_attempt_at": None, "last_error": "", "error_code": "", "updated_at": now,
    }  # fmt: skip
    # The event and the row commit together; with nobody subscribed, the UPDATE alone.
    listening = webhooks_listening()
    with transaction.atomic() if listening else nullcontext():
        # Canceled meanwhile (a STOP while it was in flight) but sent all the same: the row
        # tells the truth.
        moved = Message.objects.filter(
            pk=message.pk, status__in=[Message.Status.QUEUED, Message.Status.CANCELED]
        ).update(**changes)
        if moved:
            for name, value in changes.items():
                setattr(message, name, value)
        else:  # a status callback came first: it holds the truth
            message.refresh_from_db()
        if listening:
            webhooks_enqueue(
                event_type=WebhookSubscription.Event.MESSAGE_SENT,
                team_ids=[message.team_id],
                data=lambda: {"message": message_data(message)},
            )


def _finish(message: Message, status: str, *, error: str = "") -> None:
    now = timezone.now()
    changes: dict[str, Any] = {
        "status": status,
        "last_error": error[:2000],
        "next_attempt_at": None,
    }
    if status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
        changes["failed_at"] = now
    Message.objects.filter(pk=message.pk).update(**changes, updated_at=now)
    message.refresh_from_db()


def _failed(message: Message, error: DeliveryError) -> None:
    """An attempt failed: retry while it can help, else give up (and learn from it)."""
    now = timezone.now()
    wait = retry_wait(message.attempts)
    window_ends = message.created_at + dt.timedelta(seconds=settings.ALERT_RETRY_WINDOW_SECONDS)
    Message.objects.filter(pk=message.pk).update(error_code=error.code)
    if (
        not error.permanent
        and message.attempts < settings.ALERT_MAX_ATTEMPTS
        and now + wait <= window_ends
    ):
        Message.objects.filter(pk=message.pk).update(
            last_error=f"Attempt {message.attempts}: {error}"[:2000],
            next_attempt_at=now + wait,
            updated_at=now,
        )
        message.refresh_from_db()
        return
    _give_up(message, error, Message.Status.FAILED)


def _give_up(message: Message, error: DeliveryError, status: str) -> None:
    _finish(message, status, error=f"Attempt {message.attempts}: {error}")
    logger.warning("message %s failed for good: %s", message.pk, error)
    if error.configuration:
        sending_fault_record(channel="sms", error=error, where="messages to leads")
    elif error.code == str(sms.OPTED_OUT):
        contact = Contact.objects.get(pk=message.contact_id)
        sms_opt_out_record(
            contact=contact,
            text="(Twilio 21610: the number has opted out of texts from this sender)",
            origin="sms: Twilio 21610",
            evidence={"message": message.pk, "to": message.to, "code": error.code},
            lead=message.lead,
        )


# --- Consent ---------------------------------------------------------------------------------


def sms_opt_out_record(
    *, contact: Contact, text: str, origin: str, evidence: dict[str, Any], lead: Lead | None = None
) -> Consent | None:
    """The person withdrew SMS consent (a STOP, Twilio's 21610): recorded with its evidence,
    and every text still waiting for them canceled. Nothing new when they already had."""
    latest = leads_selectors.consent_latest(contact_id=contact.pk, channel=Consent.Channel.SMS)
    consent = None
    if latest is None or latest.granted:
        consent = leads_services.consent_record(
            contact=contact, channel=Consent.Channel.SMS, granted=False, text=text,
            origin=origin, evidence=evidence, lead=lead,
        )  # fmt: skip
    messages_cancel(contact_id=contact.pk, reason="the person opted out of texts")
    return consent


def messages_cancel(*, contact_id: int, reason: str) -> int:
    """Cancel the texts still waiting for the person (not one already with Twilio)."""
    return Message.objects.filter(
        contact_id=contact_id,
        direction=Message.Direction.OUTBOUND,
        channel=Message.Channel.SMS,
        status=Message.Status.QUEUED,
    ).update(
        status=Message.Status.CANCELED,
        next_attempt_at=None,
        last_error=f"Not sent: {reason}.",
        updated_at=timezone.now(),
    )


# --- What Twilio reports back -----------------------------------------------------------------


def message_status_record(
    *, provider_id: str, twilio_status: str, code: str = ""
) -> Message | None:
    """Move the message Twilio knows as ``provider_id`` on; never backwards, idempotent.

    A failure that may pass (``RETRY_CODES``) is sent again while attempts remain; 21610
    records the person's opt-out; a configuration code is a ``SendingFault``.
    """
    status = TWILIO_STATUSES.get(twilio_status)
    message = Message.objects.filter(
        provider_id=provider_id, direction=Message.Direction.OUTBOUND
    ).first()
    if message is None or status is None:
        return message
    now = timezone.now()
    lower = [s for s, rank in RANK.items() if rank < RANK[status]]
    failed = status in (Message.Status.FAILED, Message.Status.UNDELIVERED)
    error = sms.carrier_error(code, twilio_status) if failed else None
    changes: dict[str, Any] = {"status": status, "updated_at": now}
    if status == Message.Status.DELIVERED:
        changes["delivered_at"] = now
    if failed and error is not None:
        changes.update(failed_at=now, error_code=code, last_error=str(error))
    moved = Message.objects.filter(pk=message.pk, provider_id=provider_id, status__in=lower).update(
        **changes
    )
    if not moved:
        return message
    message.refresh_from_db()
    if failed and error is not None:
        window_ends = message.created_at + dt.timedelta(seconds=settings.ALERT_RETRY_WINDOW_SECONDS)
        if (
            not error.permanent
            and message.attempts < settings.ALERT_MAX_ATTEMPTS
            and now < window_ends
        ):
            Message.objects.filter(pk=message.pk, status=status).update(
                status=Message.Status.QUEUED, next_attempt_at=now + retry_wait(message.attempts),
                provider_id="", failed_at=None, updated_at=now,
                last_error=f"Attempt {message.attempts} ({provider_id}): {error}",
            )  # fmt: skip
        else:
            _give_up(message, error, status)
        message.refresh_from_db()
    return message


def messages_sweep(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Ring for every queued outbound message whose time has come."""
    now = now or timezone.now()
    ids = list(
        Message.objects.filter(
            status=Message.Status.QUEUED,
            direction=Message.Direction.OUTBOUND,
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        enqueue_on_commit(SEND_TASK, pk, task_name=f"message-{pk}")
    return len(ids)


# --- A person's text -------------------------------------------------------------------------

# Twilio's opt-out, opt-in and help keywords (Advanced Opt-Out's defaults): matched on the
# whole text, any case, as Twilio matches them.
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def keyword(body: str, opt_out_type: str = "") -> str:
    """``STOP``, ``START`` or ``HELP`` when the text is one of Twilio's keywords (or Twilio
    said so in ``OptOutType``); else ""."""
    told = opt_out_type.strip().upper()
    if told in ("STOP", "START", "HELP"):
        return told
    word = " ".join(body.split()).upper().strip(".!")
    if word in STOP_WORDS:
        return "STOP"
    if word in START_WORDS:
        return "START"
    if word in HELP_WORDS:
        return "HELP"
    return ""


def _media(params: Mapping[str, str]) -> list[dict[str, str]]:
    """An MMS's pictures: Twilio's links to them, kept as given."""
    try:
        count = min(int(params.get("NumMedia") or 0), 10)
    except ValueError:
        count = 0
    return [
        {
            "url": params.get(f"MediaUrl{i}", ""),
            "content_type": params.get(f"MediaContentType{i}", ""),
        }
        for i in range(count)
        if params.get(f"MediaUrl{i}")
    ]


def _person_of(phone: str) -> Contact | None:
    known = ContactPhone.objects.filter(phone=phone).select_related("contact").first()
    if known is not None:
        return known.contact
    return Contact.objects.filter(phone=phone).order_by("created_at").first()


def _team_of_number(number: str) -> int | None:
    """The team whose own number was texted (None: the shared number)."""
    return (
        TeamMessaging.objects.filter(from_number=number).values_list("team_id", flat=True).first()
    )


def lead_text_receive(event_id: int, params: Mapping[str, str]) -> str:
    """A text from a person (a phone that is no agent's), stored in their thread.

    STOP and its family withdraw their SMS consent (the text is the evidence) and cancel what
    waits for them; START, UNSTOP or YES give it back after a STOP; HELP is answered with the
    team's name and contact. Any other text alerts the lead's agent ("Jordan replied: ..."),
    or sends an unassigned lead to routing; a number nobody knows is a new lead (source
    ``sms``), routed like any other. Returns the text to answer with ("" for none: Twilio
    answers STOP and START itself).
    """
    phone = normalize_phone(params.get("From", ""))
    body = clean_text(params.get("Body") or "").strip()
    sid = params.get("MessageSid", "")
    if not phone:
        return ""
    word = keyword(body, params.get("OptOutType", ""))
    contact = _person_of(phone)
    evidence = {"message_sid": sid, "from": phone, "to": params.get("To", ""), "event": event_id}
    lead: Lead | None
    if contact is None:
        if word in ("STOP", "START"):
            return ""  # nobody to record it on; Twilio keeps the number's opt-out itself
        if word == "HELP":
            return _help_text(_team_of_number(params.get("To", "")))
        lead = _new_lead(phone, body, sid, event_id, params)
        contact = lead.contact
    else:
        lead = (
            Lead.objects.filter(contact=contact)
            .select_related("assigned_agent")
            .order_by("is_test", "-received_at", "-id")
            .first()
        )
    message = Message.objects.create(
        contact=contact, lead=lead, team_id=lead.team_id if lead else None,
        direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED, body=body,
        media=_media(params), to=params.get("To", ""), sender=phone, provider_id=sid,
        raw_event_id=event_id,
    )  # fmt: skip
    webhooks_enqueue(
        event_type=WebhookSubscription.Event.MESSAGE_RECEIVED,
        team_ids=[message.team_id],
        data=lambda: {"message": message_data(message), "lead": message.lead_id},
    )
    if word == "STOP":
        sms_opt_out_record(
            contact=contact, text=body, origin="sms: STOP texted", evidence=evidence, lead=lead
        )
        return ""
    if word == "START":
        texted = (
            Consent.objects.filter(
                contact=contact, channel=Consent.Channel.SMS, origin__startswith=OPT_OUT_ORIGIN
            )
            .order_by("-obtained_at", "-id")
            .first()
        )
        if texted is not None and not texted.granted:
            leads_services.consent_record(
                contact=contact, channel=Consent.Channel.SMS, granted=True, text=body,
                origin="sms: START texted", evidence=evidence, lead=lead,
            )  # fmt: skip
            return ""
    if word == "HELP":
        answer = _help_text(lead.team_id if lead else None)
        Message.objects.create(
            contact=contact, lead=lead, team_id=message.team_id,
            direction=Message.Direction.OUTBOUND, kind=Message.Kind.HELP,
            status=Message.Status.SENT, body=answer, to=phone, sender=params.get("To", ""),
            sent_at=timezone.now(), attempts=1,
        )  # fmt: skip
        return answer
    if lead is not None and not lead.is_test:
        _tell_the_agent(lead, contact, message)
    return ""


def _help_text(team_id: int | None) -> str:
    """HELP's answer: who is texting, how to reach them, how to stop."""
    team = Team.objects.filter(pk=team_id).first() if team_id else None
    own = TeamMessaging.objects.filter(team_id=team_id).first() if team_id else None
    name = team.name if team else "Leadline"
    contact = (own.help_contact if own else "") or settings.SMS_HELP_CONTACT
    reach = f" Reach us at {contact}." if contact else ""
    return (
        f"{name}: texts about your real estate inquiry.{reach} "
        "Msg&data rates may apply. Reply STOP to opt out."
    )


def _new_lead(phone: str, body: str, sid: str, event_id: int, params: Mapping[str, str]) -> Lead:
    """A text from a number nobody knows: a lead of its own, routed. Texting the team first is
    the person's consent to be answered by text, recorded with their words."""
    now = timezone.now()
    data = LeadData(
        source="sms", external_id=sid, received_at=now, raw_event_id=event_id,
        team_id=_team_of_number(params.get("To", "")), phone=phone, message=body,
        property_city=(params.get("FromCity") or "").title()[:100],
        property_state=(params.get("FromState") or "")[:2],
        consents=(
            ConsentData(
                channel=Consent.Channel.SMS, granted=True, obtained_at=now,
                text=f"The person texted {params.get('To', 'the team')} first: {body[:300]}",
                evidence={"message_sid": sid, "from": phone, "event": event_id},
            ),
        ),
    )  # fmt: skip
    return leads_services.lead_capture(data=data).lead


def _tell_the_agent(lead: Lead, contact: Contact, message: Message) -> None:
    """The lead's agent hears of the reply on their alert channels; an unassigned lead (the
    pool, an offer nobody took) goes to routing, whose assignment alerts as usual. Open
    screens of the lead (its page, the inbox's "Unread reply") ask again after the commit."""
    live.lead_changed(lead)
    agent = lead.assigned_agent
    if agent is None or not agent.is_active:
        if lead.status not in (Lead.Status.CLOSED_WON, Lead.Status.CLOSED_LOST):
            leads_services.lead_route(lead=lead)
        return
    name = contact.first_name or contact.full_name or contact.phone
    text = " ".join(message.body.split()) or "(a picture)"
    link = settings.SITE_URL + lead.get_short_url()
    room = 160 - len(f'{name} replied: "" {link}')
    if len(text) > room:
        text = text[: max(room - 3, 10)].rstrip() + "..."
    alerts_create(
        lead=lead, agents=[agent], kind=AgentAlert.Kind.REPLIED,
        body=f"{name} replied: \"{text}\" {link}",
    )  # fmt: skip
