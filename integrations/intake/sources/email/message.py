"""Reading a raw RFC 822 message: is it one, what identifies it, who it was for, its text.

Nothing here trusts the message: every reader tolerates broken headers and bodies and gives
an empty value rather than raising, except :func:`read_message`, which says when the bytes
are not a message at all.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from functools import cached_property
from html.parser import HTMLParser
from typing import Any

# The headers that name the envelope recipient when the door does not, in this order.
RECIPIENT_HEADERS = ("delivered-to", "x-original-to", "to", "cc")
# At least one of these makes bytes a message (RFC 5322 requires From and Date).
MESSAGE_HEADERS = ("from", "date", "message-id", "subject", "to")
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:", re.ASCII)


class NotAMessage(ValueError):
    """The bytes are not an RFC 822 message (empty, binary, no header block)."""


def read_message(raw: bytes) -> EmailMessage:
    """Parse ``raw``; raises ``NotAMessage`` for bytes that are not a message."""
    if not raw.strip():
        raise NotAMessage("The input is empty.")
    first_line = raw.lstrip(b"\r\n").split(b"\n", 1)[0]
    if first_line.startswith(b"From ") and b"\n" in raw:
        # An mbox "From " line in front (procmail, some MTAs): not a header; skip it.
        raw = raw.lstrip(b"\r\n").split(b"\n", 1)[1]
        first_line = raw.split(b"\n", 1)[0]
    if not _HEADER_LINE.match(first_line):
        raise NotAMessage("The input does not start with a mail header (Name: value).")
    if b"\x00" in raw[:4096]:
        raise NotAMessage("The input is binary data, not a mail message.")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    names = {name.lower() for name in message}
    if not names & set(MESSAGE_HEADERS):
        raise NotAMessage(
            "The input has no From, Date, Message-ID, Subject or To header: not a message."
        )
    return message


def header(message: Message, name: str) -> str:
    """The header's first value as text, decoded; ``""`` when absent or unreadable."""
    try:
        value = message.get(name)
    except Exception:  # a header the parser cannot make sense of
        value = None
    if value is None:
        raw = _raw_header(message, name)
        return raw
    try:
        return " ".join(str(value).split())
    except Exception:
        return _raw_header(message, name)


def headers(message: Message, name: str) -> list[str]:
    """Every value of the header, as it came (unfolded), in the message's order."""
    wanted = name.lower()
    return [
        " ".join(str(value).split()) for key, value in _raw_items(message) if key.lower() == wanted
    ]


def _raw_items(message: Message) -> list[tuple[str, Any]]:
    raw_items = getattr(message, "raw_items", None)
    return list(raw_items()) if raw_items is not None else list(message.items())


def _raw_header(message: Message, name: str) -> str:
    found = headers(message, name)
    return found[0] if found else ""


def message_id(message: Message) -> str:
    """The Message-ID without its angle brackets; ``""`` when there is none."""
    value = header(message, "message-id").strip()
    match = re.search(r"<([^<>\s]+)>", value)
    found = match.group(1) if match else value.strip("<> ")
    return found if "@" in found or len(found) >= 8 else ""


def content_hash(raw: bytes) -> str:
    """A hash of what every door delivers alike: the From, To, Cc, Date and Subject headers and
    the body, leaving out the trace headers each server adds (Received, Delivered-To...)."""
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    wanted = []
    unfolded = re.sub(rb"\n[ \t]+", b" ", head)
    for line in unfolded.split(b"\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"from", b"to", b"cc", b"date", b"subject"):
            wanted.append(name.strip().lower() + b":" + b" ".join(value.split()))
    digest = hashlib.sha256(b"\n".join(sorted(wanted)) + b"\n\n" + body.rstrip())
    return digest.hexdigest()


def message_key(message: Message | None, raw: bytes) -> str:
    """The event's id: ``mid:<Message-ID>`` (hashed when long), else ``sha256:<content>``.

    The same message arriving by two doors (a provider's webhook and the mailbox it also
    reaches) carries the same Message-ID, so it makes one event.
    """
    mid = message_id(message) if message is not None else ""
    if mid:
        key = f"mid:{mid}"
        if len(key) <= 200:
            return key
        return "mid-sha256:" + hashlib.sha256(mid.encode("utf-8", "replace")).hexdigest()
    return "sha256:" + content_hash(raw)


def addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """``(display name, address)`` for every address in the header, addresses lower-cased."""
    try:
        values = [str(v) for v in message.get_all(name) or []]
    except Exception:
        values = headers(message, name)
    return [
        (" ".join(display.split()), address.strip().lower())
        for display, address in getaddresses(values)
        if "@" in address
    ]


def recipient_candidates(message: Message) -> list[str]:
    """The addresses the message may have been delivered to, in the order the headers are
    believed: ``Delivered-To``, ``X-Original-To``, then ``To`` and ``Cc``."""
    found: list[str] = []
    for name in RECIPIENT_HEADERS:
        for _, address in addresses(message, name):
            if address not in found:
                found.append(address)
    return found


def sender(message: Message) -> tuple[str, str]:
    """The From header's ``(display name, address)``, the address lower-cased."""
    found = addresses(message, "from")
    if found:
        return found[0]
    name, address = parseaddr(header(message, "from"))
    return name, address.lower() if "@" in address else ""


def reply_to(message: Message) -> str:
    found = addresses(message, "reply-to")
    return found[0][1] if found else ""


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def split_address(address: str) -> tuple[str, str]:
    """``local``, ``domain`` of an address, both lower-cased."""
    try:
        parsed = Address(addr_spec=address)
        return parsed.username.lower(), parsed.domain.lower()
    except Exception:
        local, _, domain = address.rpartition("@")
        return local.lower(), domain.lower()


class _Text(HTMLParser):
    """HTML to readable text: block elements become line breaks, scripts and styles vanish,
    and the ``<meta>`` tags are collected (the Lead Metadata standard lives in them)."""

    BLOCKS = frozenset(
        [
            "p",
            "div",
            "br",
            "tr",
            "li",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "table",
            "ul",
            "ol",
            "section",
            "article",
            "header",
            "footer",
        ]
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.meta: list[tuple[str, str]] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag == "meta":
            values = {k.lower(): v or "" for k, v in attrs}
            if "name" in values:
                self.meta.append((values["name"], values.get("content", "")))
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag == "td":
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


@dataclass
class HtmlRead:
    text: str
    meta: list[tuple[str, str]] = field(default_factory=list)


def read_html(markup: str) -> HtmlRead:
    """The text and the ``<meta name=... content=...>`` pairs of an HTML document."""
    reader = _Text()
    try:
        reader.feed(markup)
        reader.close()
    except Exception:  # html.parser is lenient; be safe with anything it still rejects
        return HtmlRead(text=html.unescape(re.sub(r"<[^>]+>", " ", markup)))
    return HtmlRead(text=tidy("".join(reader.parts)), meta=reader.meta)


def tidy(text: str) -> str:
    """Spaces collapsed on every line, blank runs to one blank line, no trailing blanks."""
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    result: list[str] = []
    for line in lines:
        if line or (result and result[-1]):
            result.append(line)
    return "\n".join(result).strip()


@dataclass
class Mail:
    """A stored message, read: its parsed form and the texts the parsers look at."""

    message: EmailMessage
    raw: bytes
    recipient: str = ""

    @cached_property
    def subject(self) -> str:
        return header(self.message, "subject")

    @cached_property
    def sender(self) -> tuple[str, str]:
        return sender(self.message)

    @property
    def from_address(self) -> str:
        return self.sender[1]

    @property
    def from_domain(self) -> str:
        return domain_of(self.sender[1])

    @cached_property
    def plain(self) -> str:
        """The text/plain body ("" when there is none)."""
        return tidy(self._part_text("plain"))

    @cached_property
    def html(self) -> str:
        return self._part_text("html")

    @cached_property
    def html_read(self) -> HtmlRead:
        return read_html(self.html) if self.html else HtmlRead(text="")

    @cached_property
    def text(self) -> str:
        """The body as text: the plain part, else the HTML part's text."""
        return self.plain or self.html_read.text

    def _part_text(self, subtype: str) -> str:
        try:
            part = self.message.get_body(preferencelist=(subtype,))
        except Exception:
            part = None
        if part is None:
            return ""
        try:
            content = part.get_content()
        except Exception:
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        return content if isinstance(content, str) else ""
