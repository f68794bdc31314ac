"""The instant reply to a new lead: planned at capture, written at the moment it is sent.

``greeting_plan`` (on ``lead_captured``) decides whether and how the person is answered:
never a test lead; by SMS when they may be texted (SMS consent, a textable number), else by
email when they gave email consent and an address; never twice to the same person within
``LEAD_GREETING_WINDOW_HOURS``; an SMS waits for ``LEAD_SMS_HOURS`` in their local time
(the wait is the message's ``next_attempt_at``, shown on the lead page). The text itself
is rendered when it is sent (``greeting_render``), so it names the agent routing picked,
even one who claimed the lead while the text waited for morning.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.template import Context, Template, TemplateSyntaxError
from django.utils import timezone

from leads import selectors as leads_selectors
from leads.models import Consent, Contact, Lead

from .hours import lead_zones, next_daytime
from .models import GreetingTemplate, Message
from .selectors import sms_permission

DEFAULT_SMS = (
    "Hi {{ first_name|default:'there' }}, this is {% if agent %}{{ agent.name }} with "
    "{% endif %}{{ team }}. Thanks for your inquiry{% if place %} about {{ place }}{% endif %}"
    "! {% if agent.phone %}Call or text me at {{ agent.phone }}. {% endif %}"
    "Reply STOP to opt out."
)
DEFAULT_EMAIL_SUBJECT = "Thanks for your inquiry{% if place %} about {{ place }}{% endif %}"
DEFAULT_EMAIL = (
    "Hi {{ first_name|default:'there' }},\n\nThanks for reaching out to {{ team }}"
    "{% if place %} about {{ place }}{% endif %}. "
    "{% if agent %}I'm {{ agent.name }}, and I'll be in touch shortly"
    "{% if agent.phone %}; you can also call or text me at {{ agent.phone }}{% endif %}."
    "{% else %}One of our agents will be in touch shortly.{% endif %}\n\n"
    "{% if agent %}{{ agent.name }}\n{% endif %}{{ team }}\n"
)


@dataclass(frozen=True)
class Greeting:
    subject: str
    body: str


def template_for(lead: Lead, channel: str) -> GreetingTemplate | None:
    """The most specific active template: the team's for the source, the team's, any team's
    for the source, any team's for any source."""
    rows = GreetingTemplate.objects.filter(
        Q(team_id=lead.team_id) | Q(team__isnull=True),
        Q(source=lead.source) | Q(source=""),
        channel=channel,
        is_active=True,
    )
    return min(rows, key=lambda t: (t.team_id is None, t.source == ""), default=None)


def context_for(lead: Lead) -> dict[str, object]:
    agent = lead.assigned_agent
    contact = lead.contact
    place = lead.property_address or lead.property_city or ""
    return {
        "first_name": contact.first_name,
        "team": lead.team.name if lead.team_id and lead.team else "our team",
        "agent": {
            "name": agent.display_name,
            "first_name": agent.display_name.split()[0] if agent.display_name else "",
            "phone": agent.mobile_phone,
        }
        if agent is not None
        else None,
        "place": place,
        "source": lead.source,
    }


def render(text: str, context: dict[str, object]) -> str:
    """``text`` in Django's template language, without HTML escaping (texts are plain)."""
    template = Template("{% autoescape off %}" + text + "{% endautoescape %}")
    return " ".join(template.render(Context(context)).split(" ")).strip()


def greeting_render(lead: Lead, channel: str) -> Greeting:
    """The reply as it is sent now (the agent routing has picked by now, if any)."""
    chosen = template_for(lead, channel)
    context = context_for(lead)
    if channel == Message.Channel.EMAIL:
        subject = chosen.subject if chosen and chosen.subject else DEFAULT_EMAIL_SUBJECT
        body = chosen.body if chosen else DEFAULT_EMAIL
        return Greeting(render(subject, context)[:200], render(body, context))
    return Greeting("", render(chosen.body if chosen else DEFAULT_SMS, context))


def template_problem(text: str) -> str:
    """Why ``text`` is not a template that renders ("" when it is): for the admin's form."""
    try:
        render(text, context_for_sample())
    except TemplateSyntaxError as exc:
        return str(exc)
    return ""


def context_for_sample() -> dict[str, object]:
    """A lead as the admin's preview shows it."""
    return {
        "first_name": "Jordan",
        "team": "Sunrise Realty",
        "agent": {"name": "Alex Carter", "first_name": "Alex", "phone": "+13055550123"},
        "place": "123 Ocean Dr",
        "source": "zillow",
    }


def greeting_possible(lead: Lead) -> bool:
    """Whether ``lead`` may be answered at all (no query): instant replies on, no test lead."""
    return settings.LEAD_GREETING_ENABLED and not lead.is_test


def greeting_plan(lead: Lead, *, now: dt.datetime | None = None) -> Message | None:
    """Write the instant reply to ``lead``'s person, if one is due; None when none is."""
    from .services import message_queue

    if not greeting_possible(lead):
        return None
    now = now or timezone.now()
    # The person's row, locked: two inquiries of theirs at once make one greeting.
    contact = Contact.objects.select_for_update().get(pk=lead.contact_id)
    window = dt.timedelta(hours=settings.LEAD_GREETING_WINDOW_HOURS)
    greeted = Message.objects.filter(
        contact=contact, kind=Message.Kind.GREETING, created_at__gte=now - window
    ).exclude(status=Message.Status.CANCELED)
    if greeted.exists():
        return None
    permission = sms_permission(contact)
    if permission.allowed:
        due = next_daytime(now, lead_zones(lead, permission.to))
        return message_queue(
            contact=contact, lead=lead, body="", to=permission.to,
            kind=Message.Kind.GREETING, channel=Message.Channel.SMS, due=due,
            here_if_worker=True,
        )  # fmt: skip
    email_consent = leads_selectors.consent_latest(
        contact_id=contact.pk, channel=Consent.Channel.EMAIL
    )
    if contact.email and email_consent is not None and email_consent.granted:
        return message_queue(
            contact=contact, lead=lead, body="", to=contact.email,
            kind=Message.Kind.GREETING, channel=Message.Channel.EMAIL, here_if_worker=True,
        )  # fmt: skip
    return None
