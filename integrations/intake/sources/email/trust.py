"""Who really sent an email: the domains that authenticated it.

``Authentication-Results`` (RFC 8601) is believed only from a server we trust: on the pipe and
IMAP doors, an authserv-id listed in ``EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS`` (our own receiving
servers; a header with another id may be the sender's forgery); on a provider's webhook, whose
post proved itself by its signature, the topmost header (the provider's own). When no trusted
header is there, the message's DKIM signatures are verified here with dkimpy (the keys read
from DNS, ``EMAIL_INTAKE_DNS_SERVERS`` or the system's resolver).

A domain is authenticated by a passing DKIM signature (its ``d=``), a passing DMARC check (the
From domain) or a passing SPF check (the envelope sender's domain).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from .message import Mail, domain_of, headers

logger = logging.getLogger(__name__)

# The doors whose posts prove themselves (a provider's signature): their topmost
# Authentication-Results header is the provider's and is believed.
SIGNED_DOORS = frozenset({"amazon_ses", "mailgun", "postmark", "sendgrid"})
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class AuthResult:
    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthHeader:
    authserv_id: str
    results: tuple[AuthResult, ...]


def parse_authentication_results(value: str) -> AuthHeader | None:
    """One ``Authentication-Results`` header; ``None`` when it is unreadable."""
    value = value.strip()
    for _ in range(3):  # comments may nest a little
        value = _COMMENT.sub(" ", value)
    parts = [p.strip() for p in value.split(";")]
    if not parts or not parts[0]:
        return None
    authserv_id = parts[0].split()[0].lower()
    results = []
    for part in parts[1:]:
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        properties = {}
        for token in tokens[1:]:
            name, eq, prop = token.partition("=")
            if eq and "." in name:
                properties[name.lower()] = prop.strip('"').lower()
        results.append(AuthResult(method.lower().split("/")[0], result.lower(), properties))
    return AuthHeader(authserv_id, tuple(results))


def domains_passed(header: AuthHeader) -> set[str]:
    """The domains a header says authenticated: DKIM ``d=``/``i=``, DMARC's From, SPF's."""
    found: set[str] = set()
    for r in header.results:
        if r.result != "pass":
            continue
        if r.method == "dkim":
            domain = r.properties.get("header.d") or domain_of(r.properties.get("header.i", ""))
        elif r.method == "dmarc":
            domain = r.properties.get("header.from", "")
        elif r.method == "spf":
            domain = domain_of(r.properties.get("smtp.mailfrom", "")) or r.properties.get(
                "smtp.helo", ""
            )
        else:
            continue
        if domain:
            found.add(domain.strip().lower().lstrip("@").rstrip("."))
    return found


@dataclass(frozen=True)
class Authentication:
    """What was learnt of the sender: the authenticated domains, and how (``by``)."""

    domains: frozenset[str]
    by: str  # "authentication-results:<authserv-id>", "dkim", or "none"
    detail: str = ""

    def covers(self, domain: str) -> bool:
        """Whether ``domain`` (or a parent of it) authenticated the message."""
        domain = domain.lower()
        return any(domain == d or domain.endswith("." + d) for d in self.domains)

    def any_of(self, vendor_domains: tuple[str, ...]) -> bool:
        """Whether one of a vendor's domains (or a subdomain of one) authenticated it."""
        return any(d == v or d.endswith("." + v) for d in self.domains for v in vendor_domains)

    def as_dict(self) -> dict[str, Any]:
        return {"domains": sorted(self.domains), "by": self.by, "detail": self.detail}


def authenticate(mail: Mail, *, door: str) -> Authentication:
    """The domains that authenticated ``mail``, by the rules of the door it came through."""
    trusted = set(settings.EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS)
    parsed = [
        h
        for v in headers(mail.message, "authentication-results")
        if (h := parse_authentication_results(v))
    ]
    if door in SIGNED_DOORS and parsed:
        top = parsed[0]
        return Authentication(
            frozenset(domains_passed(top)), f"authentication-results:{top.authserv_id}"
        )
    believed = [h for h in parsed if h.authserv_id in trusted]
    if believed:
        domains: set[str] = set()
        for h in believed:
            domains |= domains_passed(h)
        ids = ",".join(sorted({h.authserv_id for h in believed}))
        return Authentication(frozenset(domains), f"authentication-results:{ids}")
    return dkim_verify(mail.raw)


def dkim_verify(raw: bytes) -> Authentication:
    """Verify every DKIM signature of the message; the ``d=`` of those that hold."""
    import dkim

    try:
        checker = dkim.DKIM(raw, minkey=1024, timeout=settings.EMAIL_INTAKE_DNS_TIMEOUT)
        count = len([1 for name, _ in checker.headers if name.lower() == b"dkim-signature"])
    except Exception as exc:  # a message dkimpy cannot even read
        return Authentication(frozenset(), "dkim", f"unreadable: {type(exc).__name__}")
    if not count:
        return Authentication(
            frozenset(), "none", "no trusted Authentication-Results, no DKIM signature"
        )
    passed: set[str] = set()
    notes = []
    for index in range(min(count, 5)):
        try:
            ok = checker.verify(idx=index, dnsfunc=_txt_lookup)
        except Exception as exc:  # DNS trouble, a broken signature
            notes.append(f"signature {index + 1}: {type(exc).__name__}: {exc}"[:200])
            continue
        domain = (checker.domain or b"").decode("ascii", "replace").lower()
        if ok and domain:
            passed.add(domain)
        else:
            notes.append(f"signature {index + 1} ({domain or '?'}): fails")
    return Authentication(frozenset(passed), "dkim", "; ".join(notes))


def _txt_lookup(name: bytes | str, timeout: float = 5) -> bytes | None:
    """A DKIM key record: the TXT of ``name``, from ``EMAIL_INTAKE_DNS_SERVERS`` when set."""
    import dns.exception
    import dns.rdatatype
    import dns.resolver

    qname = name.decode() if isinstance(name, bytes) else name
    resolver = dns.resolver.Resolver(configure=not settings.EMAIL_INTAKE_DNS_SERVERS)
    if settings.EMAIL_INTAKE_DNS_SERVERS:
        resolver.nameservers = []
        for server in settings.EMAIL_INTAKE_DNS_SERVERS:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
            resolver.nameservers.append(host)
            if port:
                resolver.port = int(port)
    try:
        answer = resolver.resolve(
            qname, dns.rdatatype.TXT, lifetime=timeout, raise_on_no_answer=False
        )
    except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
        return None
    for rrset in answer.response.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            return b"".join(next(iter(rrset.items)).strings)
    return None
