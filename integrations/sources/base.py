"""The shape every lead source takes, and the registry that lists them.

A source module has one subclass of :class:`Source`. The receiving view checks who sent the
request (raising :class:`Refused`), stores it raw with :func:`integrations.services.event_store`
and answers; later, on the queue, :meth:`Source.parse` turns the stored event into
``LeadData`` (raising :class:`ParseError` for an authentic payload it cannot read).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar

from django.http import HttpRequest, HttpResponse

from leads.auth import client_address as client_ip
from leads.data import LeadData

if TYPE_CHECKING:
    from integrations.models import InboundEvent
    from integrations.services import StoreResult

# One line per source: its key (stored on events and leads) and the dotted path of its class.
SOURCES: dict[str, str] = {
    "webform": "integrations.sources.webform.WebFormSource",
    "api": "integrations.sources.api.ApiSource",
    "facebook": "integrations.sources.facebook.FacebookSource",
    "realtor": "integrations.sources.realtor.RealtorSource",
    "zillow": "integrations.sources.zillow.ZillowSource",
    "zillow_rentals": "integrations.sources.zillow_rentals.ZillowRentalsSource",
    "mailchimp": "integrations.marketing.hooks.MailchimpSource",
}


class Refused(Exception):
    """The request did not prove who sent it: answer ``status`` and store nothing."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ParseError(Exception):
    """An authentic payload that cannot be turned into a lead; the message names the problem."""


class RetryLater(Exception):
    """The payload is fine but cannot be read now (a throttled API, a token to renew).

    The event stays ``received`` with the message as its error, and the sweeper leaves it
    alone for ``delay`` seconds. Waiting never fails the event by itself (``EVENT_MAX_ATTEMPTS``
    caps unexpected errors only): the source decides when it has waited long enough, and
    raises ``ParseError`` then. ``after`` runs once the attempt's own writes are rolled back,
    in the event's transaction: what must be kept although the attempt failed (a page marked
    as needing a new token).
    """

    def __init__(
        self, message: str, delay: float, after: Callable[[], object] | None = None
    ) -> None:
        super().__init__(message)
        self.delay = delay
        self.after = after


class Source(ABC):
    key: ClassVar[str]
    label: ClassVar[str]
    # Request headers worth keeping with the raw body (lower-case).
    kept_headers: ClassVar[tuple[str, ...]] = ("content-type", "user-agent", "origin", "referer")

    def receive(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """Answer a webhook request: check the sender, store the request, reply.

        Raises ``Refused`` when the sender cannot prove who it is; the generic view turns that
        into a 401/403 and nothing is stored. Sources with a webhook override this.
        """
        raise Refused("This source does not accept webhooks.", status=404)

    def store(
        self,
        request: HttpRequest,
        *,
        external_id: str = "",
        meta: dict[str, Any] | None = None,
        body: bytes | None = None,
        status: str = "received",
        error: str = "",
    ) -> StoreResult:
        """Store ``request`` (or ``body``, one item of a batch) raw as this source's event."""
        from integrations.services import event_store

        headers = {
            k.lower(): v for k, v in request.headers.items() if k.lower() in self.kept_headers
        }
        return event_store(
            source=self.key,
            body=request.body if body is None else body,
            content_type=request.META.get("CONTENT_TYPE", ""),
            headers=headers,
            remote_addr=client_ip(request) or None,
            external_id=external_id,
            meta=meta,
            status=status,
            error=error,
        )

    def apply(self, event: InboundEvent) -> bool | None:
        """Act on an event that brings no lead (a marketing platform's unsubscribe) and say
        whether it changed anything. Lead sources keep this default, None: their events go
        through :meth:`parse` and capture."""
        return None

    @abstractmethod
    def parse(self, event: InboundEvent) -> list[LeadData]:
        """Return the inquiries in ``event`` (an empty list when it holds none).

        Raises ``ParseError`` when the payload is authentic but unreadable.
        """


@cache
def get_source(key: str) -> Source:
    """Return the registered source called ``key``; ``KeyError`` if there is none."""
    module_name, _, class_name = SOURCES[key].rpartition(".")
    source_class: type[Source] = getattr(import_module(module_name), class_name)
    return source_class()


def source_choices() -> list[tuple[str, str]]:
    return [(key, get_source(key).label) for key in SOURCES]
