"""An email no parser recognised: a person writing to the team's address themselves.

It becomes a lead from its sender, subject and body only when it reads like an inquiry
(about a home, a showing, a price; or it leaves a phone number) and is not a machine's
(auto-replies, bounces, newsletters, no-reply senders). Otherwise it holds no lead and the
event is stored as ignored.
"""

from __future__ import annotations

import re

from integrations.intake.sources.email.message import Mail, header
from integrations.intake.sources.values import split_name
from leads.normalize import normalize_email, normalize_phone

from .base import EmailParser, ParsedEmail

INQUIRY_WORDS = re.compile(
    r"\b(interested|inquir\w*|enquir\w*|showing|tour|viewing|see the (?:home|house|property)|"
    r"buy\w*|sell\w*|rent\w*|lease|listing|propert\w*|home|house|condo|apartment|"
    r"townhouse|offer|price|mortgage|pre-?approv\w*|available|schedule|appointment|"
    r"open house|bedrooms?|call me|contact me|reach me|more information|more info)\b",
    re.IGNORECASE,
)
PHONE = re.compile(r"(?:\+?1[\s.-]?)?\(?\b\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}\b")
MACHINE_SENDERS = re.compile(
    r"^(?:no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?|notifications?)\b",
    re.IGNORECASE,
)


def from_a_machine(mail: Mail) -> str:
    """Why the message is a machine's (an auto-reply, a bounce, a list), or ``""``."""
    auto = header(mail.message, "auto-submitted").lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if header(mail.message, "precedence").lower() in ("bulk", "list", "junk", "auto_reply"):
        return "a bulk or list message (Precedence)"
    if header(mail.message, "list-unsubscribe") or header(mail.message, "list-id"):
        return "a mailing-list message"
    if MACHINE_SENDERS.match(mail.from_address) or not mail.from_address:
        return f"sent from {mail.from_address or 'no address'}"
    content_type = mail.message.get_content_type()
    if content_type in ("multipart/report", "message/delivery-status"):
        return "a delivery report"
    return ""


class FallbackParser(EmailParser):
    key = "fallback"
    label = "A person's own email"

    def recognises(self, mail: Mail) -> bool:
        return True

    def parse(self, mail: Mail) -> ParsedEmail | None:
        if from_a_machine(mail):
            return None
        body = mail.text
        subject = mail.subject
        if not (INQUIRY_WORDS.search(subject) or INQUIRY_WORDS.search(body[:5000])):
            return None
        display, address = mail.sender
        email = normalize_email(address)
        if not email:
            return None
        first, last = split_name(display if "@" not in display else "")
        phone_match = PHONE.search(body[:5000])
        message = f"{subject}\n\n{body}".strip() if subject else body
        return ParsedEmail(
            first_name=first,
            last_name=last,
            email=email,
            phone=normalize_phone(phone_match.group(0)) if phone_match else "",
            message=message[:5000],
            source_detail=f"Email to the team: {subject}"[:200] if subject else "Email",
        )
