"""The shape every source takes (the registry that lists them is the package's ``SOURCES``).

A source module has one subclass of :class:`Source`. The receiving view checks who sent the
request (raising :class:`Refused`), stores it raw with
:func:`integrations.intake.services.event_store` and answers; later, on the queue,
:meth:`Source.parse` turns the stored event into
``LeadData`` (raising :class:`ParseError` for an authentic payload it cannot read).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from django.http import HttpRequest, HttpResponse

from integrations.intake.services import StoreResult, event_store
from leads.auth import client_address as client_ip
from leads.data import LeadData

from .errors import Ignored, ParseError, Refused, RetryLater

if TYPE_CHECKING:
    from integrations.intake.models import InboundEvent

__all__ = ["Ignored", "ParseError", "Refused", "RetryLater", "Source", "client_ip"]


class Source(ABC):
    key: ClassVar[str]
    label: ClassVar[str]
    # Its webhook's address under /hooks/ ("zillow/", "zillow-rentals/<str:token>/"), whose
    # URL pattern the registry makes; empty: no webhook (a web form, the REST API).
    hook: ClassVar[str] = ""
    # True when every lead it makes carries its team (a web form's, a page's, a key's), or it
    # makes none: else a lead no territory covers needs its source's default team
    # (Team.default_for_sources), which the system check intake.E310 asks for.
    leads_carry_team: ClassVar[bool] = False
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
