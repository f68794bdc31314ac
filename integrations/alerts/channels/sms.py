"""SMS alerts through Twilio's Programmable Messaging, with the ``twilio`` library.

The client is made once per process (its HTTP session keeps connections open, which is
most of the speed of a send). ``TWILIO_API_BASE_URL`` points the client's own base URL at
another server, a staging proxy or a mock, without touching anything else. Twilio's error
codes are sorted into what to retry, what is permanent and what is our own configuration;
the lists come from Twilio's error pages (see docs/alerts.md).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

import requests
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from integrations.alerts.facts import AlertFacts
from integrations.alerts.models import AgentAlert, alert_settings_for
from integrations.alerts.services import alert_settings_set
from leads.models import Agent

from .base import Channel, DeliveryError, SendResult

logger = logging.getLogger(__name__)

# Worth another try later: concurrency limit, queue overflow, unreachable handset, carrier.
RETRY_CODES = frozenset({20429, 21611, 30001, 30003, 30008, 30036})
# The number can never get this message: not valid, opted out, not SMS-capable, unknown.
PERMANENT_CODES = frozenset({21211, 21610, 21612, 21614, 21635, 30005, 30006})
# Ours to fix: credentials, a region not enabled, an unverified number on a trial account,
# a sender we do not own; and the carriers' A2P family, which refuses every message from a
# sender that is not registered or is filtered: 30007 (carrier filtering), 30032 (toll-free
# number not verified), 30033/30034/30035 (10DLC campaign suspended, number unregistered,
# number still being registered), 30037 (outbound messaging disabled).
CONFIGURATION_CODES = frozenset(
    {20003, 20404, 21212, 21408, 21606, 21608, 21659, 30007, 30032, 30033, 30034, 30035, 30037}
)
# Codes that say the agent's phone, not our message or account, is the problem.
PHONE_CODES = frozenset({21211, 21612, 21614, 21635, 30005, 30006})
OPTED_OUT = 21610

GSM_CHARACTERS = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
SEGMENT = {True: 160, False: 70}  # characters in one segment: GSM-7, else UCS-2
ELLIPSIS = "..."  # GSM-7, unlike "…", so shortening never costs the one-segment encoding


def is_gsm(text: str) -> bool:
    return all(c in GSM_CHARACTERS for c in text)


def compose(facts: AlertFacts) -> str:
    """The text: one segment where it can be. The source, name, type, place, price, what to
    do and the short link; the lead's phone and email only if the agent asked for them.
    What does not fit is shortened in the order place, name."""
    tail = f". {facts.call_to_action}: {facts.link}"
    if facts.phone or facts.email:
        tail += " " + " ".join(part for part in (facts.phone, facts.email) if part)
    head = f"{facts.headline}: "
    name, place = facts.name, facts.place
    extras = [facts.lead_type, facts.price]

    def text() -> str:
        fields = [name, extras[0], place, extras[1]]
        return head + ", ".join(f for f in fields if f) + tail

    def shorten(value: str, least: int) -> str:
        keep = max(least, len(value) - (len(text()) - limit)) - len(ELLIPSIS)
        return value[:keep].rstrip(" ,") + ELLIPSIS

    limit = SEGMENT[is_gsm(text())]
    while len(text()) > limit and len(place) > 12:
        place = shorten(place, 12)
        limit = SEGMENT[is_gsm(text())]
    while len(text()) > limit and len(name) > 10:
        name = shorten(name, 10)
        limit = SEGMENT[is_gsm(text())]
    return text()


@functools.cache
def client(account_sid: str, auth_token: str, base_url: str, timeout: float) -> Client:
    """One client per configuration, per process: its session keeps connections warm."""
    made = Client(
        account_sid,
        auth_token,
        http_client=TwilioHttpClient(pool_connections=True, timeout=timeout),
    )
    if base_url:
        made.api.base_url = base_url
    return made


def twilio_client() -> Client:
    return client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_API_BASE_URL,
        settings.TWILIO_TIMEOUT_SECONDS,
    )


def classify(exc: TwilioRestException) -> DeliveryError:
    """Twilio's answer as a ``DeliveryError``: retry, permanent or configuration."""
    code = int(exc.code) if isinstance(exc.code, int) else None
    label = f"Twilio {code or exc.status}: {exc.msg}"[:500]
    text = str(code or exc.status)
    if code in RETRY_CODES or exc.status == 429 or exc.status >= 500:
        return DeliveryError(label, code=text)
    if code in CONFIGURATION_CODES or exc.status in (401, 403):
        return DeliveryError(label, configuration=True, code=text)
    return DeliveryError(label, permanent=True, code=text)


def configured() -> bool:
    """Whether SMS can be sent: the account and a sender."""
    return bool(
        settings.TWILIO_ACCOUNT_SID
        and settings.TWILIO_AUTH_TOKEN
        and (settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER)
    )


def send_text(
    *,
    to: str,
    body: str,
    status_callback: str,
    from_number: str = "",
    messaging_service_sid: str = "",
    media_urls: list[str] | None = None,
) -> str:
    """Send one text through Twilio; its message SID. The sender is the one given, else the
    settings' (a Messaging Service wins over a number). Raises ``DeliveryError``, classified
    (retry, permanent, configuration), when Twilio does not take it."""
    service = messaging_service_sid or (
        "" if from_number else settings.TWILIO_MESSAGING_SERVICE_SID
    )
    sender = (
        {"messaging_service_sid": service}
        if service
        else {"from_": from_number or settings.TWILIO_FROM_NUMBER}
    )
    extra: dict[str, object] = {"media_url": media_urls} if media_urls else {}
    try:
        message = twilio_client().messages.create(
            to=to, body=body, status_callback=status_callback, **sender, **extra
        )
    except TwilioRestException as exc:
        raise classify(exc) from exc
    except (requests.RequestException, TwilioException) as exc:
        raise DeliveryError(f"Twilio unreachable: {type(exc).__name__}") from exc
    if message.error_code:
        raise classify(
            TwilioRestException(400, "", msg=message.error_message or "", code=message.error_code)
        )
    if message.status == "failed":
        raise DeliveryError("Twilio refused the message", permanent=True)
    return message.sid or ""


class SmsChannel(Channel):
    key = "sms"
    label = "SMS"
    waits_for_quiet_hours = True

    def configured(self) -> bool:
        return configured()

    def reachable(self, agent: Agent) -> str:
        known = alert_settings_for(agent)
        usable = not known.sms_opted_out_at and not known.phone_problem
        return agent.mobile_phone if usable else ""

    def address(self, agent: Agent) -> str:
        return self.reachable(agent) if alert_settings_for(agent).sms_enabled else ""

    def send(self, alert: AgentAlert, facts: AlertFacts) -> SendResult:
        sid = send_text(
            to=alert.to,
            body=alert.body or compose(facts),
            status_callback=settings.SITE_URL + reverse("alerts:twilio_status"),
        )
        return SendResult(provider_id=sid)

    def flag_broken(self, agent: Agent, error: DeliveryError) -> None:
        if error.code == str(OPTED_OUT):
            alert_settings_set(agent=agent, sms_opted_out_at=timezone.now())
        elif error.code.isdigit() and int(error.code) in PHONE_CODES:
            alert_settings_set(agent=agent, phone_problem=str(error)[:300])


# --- What Twilio posts back ----------------------------------------------------------------

# Twilio's message statuses, as the statuses of an alert.
STATUSES = {
    "sending": AgentAlert.Status.SENT,
    "sent": AgentAlert.Status.SENT,
    "delivered": AgentAlert.Status.DELIVERED,
    "read": AgentAlert.Status.DELIVERED,
    "undelivered": AgentAlert.Status.UNDELIVERED,
    "failed": AgentAlert.Status.FAILED,
}


def callback_status(params: Mapping[str, str]) -> tuple[str, str, str] | None:
    """A status callback's message SID, alert status and error code; None when it names no
    message or a status we do not follow."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = STATUSES.get(params.get("MessageStatus") or params.get("SmsStatus") or "")
    if not sid or status is None:
        return None
    return sid, status, (params.get("ErrorCode") or "").strip()


def carrier_error(code: str, status: str) -> DeliveryError:
    """What a carrier's failure code says: worth sending again, permanent, or ours to fix."""
    number = int(code) if code.isdigit() else None
    return DeliveryError(
        f"Twilio {code or '?'}: {status}",
        permanent=number not in RETRY_CODES,
        configuration=number in CONFIGURATION_CODES,
        code=code,
    )


def opt_out_of(params: Mapping[str, str]) -> str:
    """Twilio's ``OptOutType`` of an incoming text (STOP, START, HELP) or ""."""
    return (params.get("OptOutType") or "").upper()
