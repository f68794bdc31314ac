"""The shape of an email parser, and of what it reads out of a message."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from integrations.intake.sources.email.message import Mail


@dataclass
class ParsedEmail:
    """An inquiry read out of an email, before it is trusted and made ``LeadData``.

    ``assigned_agent_*`` name the agent the sender assigned the lead to (believed only when
    the sender authenticated); ``source`` and ``external_id``, when a parser sets them, make
    the lead the same one another door of that vendor brings (Realtor.com's lead id).
    """

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    message: str = ""
    lead_type: str = "buyer"
    property_address: str = ""
    property_city: str = ""
    property_state: str = ""
    property_zip: str = ""
    mls_number: str = ""
    price: Decimal | None = None
    page_url: str = ""
    source_detail: str = ""
    assigned_agent_name: str = ""
    assigned_agent_email: str = ""
    assigned_agent_phone: str = ""
    # An address that reaches the person through the vendor (Zillow's convo relay), kept for
    # replies but not as the person's own.
    reply_alias: str = ""
    source: str = ""
    external_id: str = ""
    pinned_agent_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class EmailParser(ABC):
    """One vendor's (or one standard's) emails.

    ``domains`` are the sender domains that prove a message is the vendor's: a vendor parser
    believes a message only when one of them authenticated it. Empty: not a vendor parser
    (the Lead Metadata standard, forwards, the fallback), trusted on the From domain.
    """

    key: ClassVar[str]
    label: ClassVar[str]
    domains: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def recognises(self, mail: Mail) -> bool:
        """Whether the message is one of this parser's (cheap: sender, subject, a marker)."""

    @abstractmethod
    def parse(self, mail: Mail) -> ParsedEmail | None:
        """The inquiry in the message; ``None`` when it holds none (a notice, not a lead).

        Raises ``ParseError`` naming what is missing when the message is the vendor's but
        cannot be read (its template changed): the event is stored failed, to be replayed
        after the parser is fixed.
        """


def from_vendor(mail: Mail, domains: tuple[str, ...]) -> bool:
    """Whether the From address is at one of ``domains`` or a subdomain of one."""
    domain = mail.from_domain
    return any(domain == d or domain.endswith("." + d) for d in domains)
