"""The email parsers, in the order they are tried: ``PARSERS``, key to the dotted path.

The vendors' own come first (each recognises its sender and template), then the Real Estate
Lead Metadata standard (any sender), a forward from an agent, and the fallback. A new vendor
is one module with one :class:`~.base.EmailParser` subclass and one line here.
"""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from .base import EmailParser

_HERE = "integrations.intake.sources.email.parsers"
PARSERS: dict[str, str] = {
    "zillow_rentals": f"{_HERE}.zillow_rentals.ZillowRentalsParser",
    "zillow": f"{_HERE}.zillow.ZillowPremierAgentParser",
    "realtor": f"{_HERE}.realtor.RealtorParser",
    "homes": f"{_HERE}.homes.HomesParser",
    "redfin": f"{_HERE}.redfin.RedfinParser",
    "forward": f"{_HERE}.forward.ForwardParser",
    "leadmetadata": f"{_HERE}.leadmetadata.LeadMetadataParser",
    "fallback": f"{_HERE}.fallback.FallbackParser",
}


@cache
def get_parser(key: str) -> EmailParser:
    parser_class: type[EmailParser] = import_string(PARSERS[key])
    return parser_class()


def parsers() -> list[EmailParser]:
    return [get_parser(key) for key in PARSERS]
