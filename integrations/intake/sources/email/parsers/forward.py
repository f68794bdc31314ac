"""An inquiry an agent forwards from their own registered address (``Agent.email``).

The original sender and text are read out of the forward, in the formats the common mail
programs write:

- Gmail: ``---------- Forwarded message ---------`` then ``From:``, ``Date:``, ``Subject:``,
  ``To:`` lines;
- Outlook: a line of underscores or ``-----Original Message-----`` then ``From:``, ``Sent:``,
  ``To:``, ``Subject:``;
- Apple Mail: ``Begin forwarded message:`` then ``From:``, ``Subject:``, ``Date:``, ``To:``;
- any program's "forward as attachment": the original as a ``message/rfc822`` part.

The lead is pinned to the forwarding agent (when their address authenticated: anyone can
write a From header). When the forwarded email carries Lead Metadata, it is read from that.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import parseaddr

from integrations.intake.sources.email.message import Mail, read_html, sender, tidy
from integrations.intake.sources.errors import ParseError
from integrations.intake.sources.values import split_name
from leads.models import Agent
from leads.normalize import normalize_email, normalize_phone

from .base import EmailParser, ParsedEmail
from .fallback import PHONE
from .leadmetadata import VERSION, parsed_from_metadata

SUBJECT_PREFIX = re.compile(r"^\s*(?:fwd?|fw|tr|wg)\s*:\s*", re.IGNORECASE)
MARKERS = re.compile(
    r"^[> ]*(?:-{5,}\s*Forwarded message\s*-{5,}|Begin forwarded message:|"
    r"-{3,}\s*Original Message\s*-{3,}|_{10,})\s*$",
    re.IGNORECASE | re.MULTILINE,
)
HEADER_LINE = re.compile(
    r"^[> ]*(From|Sent|Date|To|Cc|Subject|Reply-To)\s*:\s*(.*)$", re.IGNORECASE
)
VENDOR_RELAYS = ("convo.zillow.com",)


def forwarding_agent(mail: Mail) -> Agent | None:
    if not mail.from_address:
        return None
    return (
        Agent.objects.filter(email__iexact=mail.from_address, is_active=True)
        .select_related("team")
        .first()
    )


def attached_original(mail: Mail) -> EmailMessage | None:
    for part in mail.message.walk():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], EmailMessage):
                return inner[0]
    return None


def inline_original(text: str) -> tuple[dict[str, str], str] | None:
    """The forwarded headers and body after the first forward marker, if there is one."""
    marker = MARKERS.search(text)
    if marker is None:
        return None
    lines = text[marker.end() :].splitlines()
    found: dict[str, str] = {}
    index = 0
    while index < len(lines) and not lines[index].strip(" >"):
        index += 1
    while index < len(lines) and (match := HEADER_LINE.match(lines[index])):
        found.setdefault(match.group(1).lower(), match.group(2).strip())
        index += 1
    body = "\n".join(line.lstrip("> ").rstrip() for line in lines[index:])
    return (found, tidy(body)) if "from" in found else None


class ForwardParser(EmailParser):
    key = "forward"
    label = "Forwarded by an agent"

    def recognises(self, mail: Mail) -> bool:
        if forwarding_agent(mail) is None:
            return False
        return bool(
            SUBJECT_PREFIX.match(mail.subject)
            or attached_original(mail) is not None
            or MARKERS.search(mail.text)
        )

    def parse(self, mail: Mail) -> ParsedEmail:
        agent = forwarding_agent(mail)
        assert agent is not None  # recognised
        attached = attached_original(mail)
        if attached is not None:
            inner = Mail(attached, attached.as_bytes())
            display, address = sender(attached)
            subject, body, html = inner.subject, inner.text, inner.html
        else:
            original = inline_original(mail.text) or inline_original(
                read_html(mail.html).text if mail.html else ""
            )
            if original is None:
                raise ParseError(
                    "Forwarded by an agent: no forwarded message found (no Gmail, Outlook or "
                    "Apple Mail forward header with a From line)."
                )
            headers, body = original
            display, address = parseaddr(headers["from"].replace("[mailto:", "<").replace("]", ">"))
            if not address and "@" in headers["from"]:
                address = headers["from"]
            subject, html = headers.get("subject", ""), mail.html
        tags = (
            {
                name.lower(): content
                for name, content in read_html(html).meta
                if name.lower().startswith("lead_")
            }
            if html
            else {}
        )
        if VERSION in tags:
            parsed = parsed_from_metadata(tags)
        else:
            address = address.strip().lower()
            is_relay = address.endswith(VENDOR_RELAYS)
            email = "" if is_relay else normalize_email(address)
            phone = PHONE.search(body[:5000])
            if not email and not phone:
                raise ParseError(
                    "Forwarded by an agent: the original sender has no usable address or phone."
                )
            first, last = split_name(display if "@" not in display else "")
            parsed = ParsedEmail(
                first_name=first,
                last_name=last,
                email=email,
                phone=normalize_phone(phone.group(0)) if phone else "",
                message=(f"{subject}\n\n{body}" if subject else body).strip()[:5000],
                reply_alias=address if is_relay else "",
            )
        parsed.source_detail = f"from {agent.display_name}"
        parsed.pinned_agent_id = agent.pk
        parsed.extra = {**parsed.extra, "forwarded_by": agent.pk}
        return parsed
