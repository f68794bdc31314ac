"""Email alerts through Django's mail (``EMAIL_URL``): a plain-text and an HTML part.

SMTP's own reply codes classify a failure: a 5xx refusal of the recipient is permanent
(the address is broken), other 5xx refusals are permanent for this message, 4xx and
dropped connections are worth another try, and a refused login is our configuration.
"""

from __future__ import annotations

import smtplib
import socket

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string
from django.urls import reverse

from integrations.alerts.facts import AlertFacts
from integrations.alerts.models import AgentAlert, alert_settings_for
from integrations.alerts.services import alert_settings_set
from leads.models import Agent

from .base import Channel, DeliveryError, SendResult


def smtp_error(exc: Exception) -> DeliveryError:
    """An exception from the mail backend as a ``DeliveryError``."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"SMTP login refused ({exc.smtp_code})", configuration=True)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        code = max(codes) if codes else 550
        message = f"SMTP {code}: recipient refused"
        if code >= 500:
            return DeliveryError(message, permanent=True, code=f"recipient-{code}")
        return DeliveryError(message, code=str(code))
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return DeliveryError(f"SMTP {exc.smtp_code}: sender refused", configuration=True)
    if isinstance(exc, smtplib.SMTPResponseException):
        message = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:500]
        return DeliveryError(message, permanent=exc.smtp_code >= 500, code=str(exc.smtp_code))
    if isinstance(exc, smtplib.SMTPException | OSError | socket.timeout):
        return DeliveryError(f"Mail server unreachable: {type(exc).__name__}")
    raise exc


class EmailChannel(Channel):
    key = "email"
    label = "Email"

    def configured(self) -> bool:
        return bool(settings.EMAIL_BACKEND)

    def reachable(self, agent: Agent) -> str:
        return agent.email if not alert_settings_for(agent).email_problem else ""

    def address(self, agent: Agent) -> str:
        return self.reachable(agent) if alert_settings_for(agent).email_enabled else ""

    def send(self, alert: AgentAlert, facts: AlertFacts) -> SendResult:
        context = {
            "facts": facts,
            "lead_url": settings.SITE_URL + reverse("leads:lead", args=[facts.lead.pk]),
            "settings_url": settings.SITE_URL + reverse("leads:settings"),
        }
        subject = f"{facts.headline}: {facts.name}"
        if facts.kind == AgentAlert.Kind.REPLIED:
            subject = facts.message  # "Jordan replied: ..."
        elif facts.place:
            subject += f", {facts.place}"
        domain = settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        message_id = make_msgid("alert", domain=domain or "localhost")
        message = EmailMultiAlternatives(
            subject=subject[:200],
            body=render_to_string("alerts/lead_alert.txt", context),
            to=[alert.to],
            headers={"Message-ID": message_id, "X-Leadline-Lead": str(facts.lead.pk)},
        )
        message.attach_alternative(render_to_string("alerts/lead_alert.html", context), "text/html")
        try:
            with get_connection(fail_silently=False) as connection:
                connection.send_messages([message])
        except Exception as exc:
            raise smtp_error(exc) from exc
        return SendResult(provider_id=message_id)

    def flag_broken(self, agent: Agent, error: DeliveryError) -> None:
        if error.code.startswith("recipient-"):
            alert_settings_set(agent=agent, email_problem=str(error)[:300])
