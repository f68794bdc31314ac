"""Mailchimp audience webhooks: unsubscribes, bounces and profile edits coming back.

Mailchimp does not sign its webhooks, so the URL carries a long random secret
(``/hooks/mailchimp/<MAILCHIMP_WEBHOOK_TOKEN>/``), compared in constant time. Mailchimp
checks the URL when the webhook is saved (a GET, or an empty POST): both answer 200 and
store nothing. Every other POST is stored raw first; on the queue, the marketing backend
reads it into events (:meth:`MarketingBackend.parse_webhook`) and they are applied to the
contact (:func:`integrations.marketing.services.marketing_apply`). Mailchimp retries a
delivery that fails or takes over 10 s for 75 minutes, so a repeat of the same body is
recognised by its digest and stored once.
Reference: https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.intake.models import InboundEvent
from integrations.intake.sources.base import ParseError, Refused, Source
from leads.data import LeadData

from .base import WebhookError, get_backend
from .services import marketing_apply

FORM = "application/x-www-form-urlencoded"


class MailchimpSource(Source):
    key = "mailchimp"
    label = "Mailchimp (audience webhooks)"
    leads_carry_team = True
    hook = "mailchimp/<str:token>/"

    def receive(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        expected = str(settings.MAILCHIMP_WEBHOOK_TOKEN)
        token = str(kwargs.get("token", ""))
        if not expected:
            raise Refused("Mailchimp webhooks are not set up here.", status=404)
        if not hmac.compare_digest(token.encode(), expected.encode()):
            raise Refused("Unknown webhook address.", status=403)
        if request.method == "GET" or (request.method == "POST" and not request.body):
            return JsonResponse({"status": "ok"})  # Mailchimp's check when the URL is saved
        if request.method != "POST":
            response = JsonResponse({"status": 405, "message": "Use GET or POST."}, status=405)
            response["Allow"] = "GET, POST"
            return response
        external_id = "sha256:" + hashlib.sha256(request.body).hexdigest()
        error = self._unreadable(request)
        if error:
            self.store(request, external_id=external_id, status="failed", error=error)
            return JsonResponse({"status": 400, "code": "invalid", "message": error}, status=400)
        self.store(request, external_id=external_id)
        return JsonResponse({"status": "received"})

    def _unreadable(self, request: HttpRequest) -> str:
        """Why the body cannot be read as Mailchimp's webhook; empty when it can."""
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type != FORM:
            return f"Expected {FORM}, got {content_type or 'no content type'}."
        backend = get_backend()
        if backend is None:
            return "Marketing sync is off (MARKETING_BACKEND is empty)."
        try:
            backend.parse_webhook(request.body, content_type)
        except WebhookError as exc:
            return str(exc)
        return ""

    def apply(self, event: InboundEvent) -> bool:
        """Apply the event's changes to the contact; True when something changed."""
        backend = get_backend()
        if backend is None:
            raise ParseError("Marketing sync is off (MARKETING_BACKEND is empty).")
        try:
            events = backend.parse_webhook(bytes(event.body), event.content_type)
        except WebhookError as exc:
            raise ParseError(str(exc)) from exc
        changed = [marketing_apply(event=e) for e in events]
        return any(changed)

    def parse(self, event: InboundEvent) -> list[LeadData]:
        """Mailchimp's events bring no leads: :meth:`apply` acts on them."""
        return []
