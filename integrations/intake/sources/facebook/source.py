"""The Facebook Lead Ads source: its webhook door, and reading each lead on the queue.

The webhook carries no personal data, only ids: ``receive`` checks Facebook's signature and
stores one event per lead (``external_id`` = ``leadgen_id``, so Facebook's retries over 36
hours find the first one). On the queue, ``parse`` reads the lead from the Graph API with its
Page's token.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from integrations.intake.models import FacebookPage, InboundEvent
from integrations.intake.sources.base import ParseError, Refused, RetryLater, Source
from integrations.lib.backoff import backoff
from leads.data import LeadData
from leads.inputs import InputError, read_json

from .graph import FORM_FIELDS, LEAD_FIELDS, GraphError, graph_get, graph_url
from .mapping import form_snapshot, lead_data
from .pages import REAUTH_WAIT_SECONDS, facebook_page_needs_reauth, token_for
from .webhook import KEY, MAX_BODY_BYTES, Malformed, facebook_id, read_changes, signature_valid

logger = logging.getLogger(__name__)


RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 60 * 60
# Facebook keeps a lead for 90 days, but a throttle that lasts a day needs a person.
RETRY_WINDOW = dt.timedelta(hours=24)


class FacebookSource(Source):
    key = KEY
    label = "Facebook Lead Ads"
    leads_carry_team = True
    hook = "facebook/"
    kept_headers = ("content-type", "user-agent", "x-hub-signature-256")

    def receive(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not settings.FACEBOOK_APP_SECRET:
            raise Refused("Facebook Lead Ads is off: FACEBOOK_APP_SECRET is not set.", 404)
        if request.method == "GET":
            return self.verify(request)
        if request.method != "POST":
            raise Refused("Use GET (verification) or POST (changes).", status=405)
        return self.notify(request)

    def verify(self, request: HttpRequest) -> HttpResponse:
        """Facebook's subscription check: echo ``hub.challenge`` when the token matches."""
        expected = settings.FACEBOOK_VERIFY_TOKEN
        given = request.GET.get("hub.verify_token", "")
        if not (
            expected
            and request.GET.get("hub.mode") == "subscribe"
            and hmac.compare_digest(expected.encode(), given.encode())
        ):
            raise Refused("The verification token does not match.", status=403)
        return HttpResponse(
            request.GET.get("hub.challenge", ""), content_type="text/plain; charset=utf-8"
        )

    def notify(self, request: HttpRequest) -> HttpResponse:
        """Check the signature, store one event per lead, answer 200 at once."""
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            raise Refused("The body is too large.", status=413)
        body = request.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise Refused("The body is too large.", status=413)
        if not signature_valid(body, request.headers.get("X-Hub-Signature-256", "")):
            raise Refused("The X-Hub-Signature-256 signature does not match.", status=403)
        try:
            leadgen, others = read_changes(body)
        except Malformed as exc:
            self.store(request, body=body, status=InboundEvent.Status.FAILED, error=str(exc))
            return JsonResponse({"status": 400, "code": "invalid", "message": str(exc)}, status=400)
        # One transaction for the whole batch (up to 1000 leads): one commit instead of one
        # each, and a failure stores none of them, so Facebook's retry brings them all again.
        created = 0
        with transaction.atomic():
            for change in leadgen:
                value = change.value
                stored = self.store(
                    request,
                    body=change.envelope(),
                    external_id=facebook_id(value["leadgen_id"]),
                    meta={
                        "page_id": facebook_id(value["page_id"]),
                        "form_id": facebook_id(value.get("form_id")),
                        "via": "webhook",
                    },
                )
                created += stored.created
            if others:
                fields = sorted({str(c.change.get("field")) for c in others})
                self.store(
                    request,
                    body=body,
                    status=InboundEvent.Status.IGNORED,
                    error="Not a lead: changes to " + ", ".join(fields) + " are not handled.",
                )
        return JsonResponse(
            {"received": len(leadgen), "new": created, "duplicates": len(leadgen) - created}
        )

    # --- On the queue -------------------------------------------------------------------

    def parse(self, event: InboundEvent) -> list[LeadData]:
        lead, page_id = self._lead_of(event)
        page = FacebookPage.objects.filter(page_id=page_id).first()
        if page is None:
            raise ParseError(
                f"No Facebook page {page_id} is set up: add it in the admin (Facebook pages) "
                "with its access token, then replay this event."
            )
        if page.status == FacebookPage.Status.NEEDS_REAUTH:
            raise RetryLater(
                f"Page {page.page_id} needs re-authorisation; the lead waits for a new token.",
                REAUTH_WAIT_SECONDS,
            )
        if lead is None:
            lead = self._fetch(event, page, facebook_id(event.external_id))
        form_id = facebook_id(lead.get("form_id")) or facebook_id(event.meta.get("form_id"))
        form = self._form(event, page, form_id) if form_id else {}
        return [lead_data(event=event, page=page, lead=lead, form_id=form_id, form=form)]

    @staticmethod
    def _lead_of(event: InboundEvent) -> tuple[dict[str, Any] | None, str]:
        """The stored lead object (from a backfill) or ``None`` (a webhook's ids only), and
        the page it belongs to."""
        try:
            payload = read_json(bytes(event.body))
        except InputError as exc:
            raise ParseError(exc.message) from exc
        if isinstance(payload, dict) and "field_data" in payload:
            page_id = facebook_id(event.meta.get("page_id"))
            if not page_id:
                raise ParseError("A backfilled lead without the page it came from (meta.page_id).")
            return payload, page_id
        try:
            leadgen, _ = read_changes(bytes(event.body))
        except Malformed as exc:
            raise ParseError(str(exc)) from exc
        if len(leadgen) != 1:
            raise ParseError(f"Expected one leadgen change, found {len(leadgen)}.")
        return None, facebook_id(leadgen[0].value["page_id"])

    def _fetch(self, event: InboundEvent, page: FacebookPage, leadgen_id: str) -> dict[str, Any]:
        return self._graph(
            event, page, graph_url(leadgen_id), {"fields": LEAD_FIELDS}, what="the lead"
        )

    def _form(self, event: InboundEvent, page: FacebookPage, form_id: str) -> dict[str, Any]:
        """What we know of the form (name, consent wording), read once and kept on the page;
        a published lead form cannot be edited, so the copy stays true."""
        known: dict[str, Any] | None = page.forms.get(form_id)
        if known is not None:
            return known
        data = self._graph(event, page, graph_url(form_id), {"fields": FORM_FIELDS}, what="form")
        snapshot = form_snapshot(data)
        page.forms = {**page.forms, form_id: snapshot}
        page.save(update_fields=["forms"])
        return snapshot

    def _graph(
        self,
        event: InboundEvent,
        page: FacebookPage,
        url: str,
        params: dict[str, Any],
        *,
        what: str,
    ) -> dict[str, Any]:
        """One Graph read, its errors turned into what the event should do next."""
        token = token_for(page)
        try:
            return graph_get(url, token=token, params=params)
        except GraphError as exc:
            raise _outcome(event, page, exc, what) from exc


def _outcome(event: InboundEvent, page: FacebookPage, exc: GraphError, what: str) -> Exception:
    """190/102: the page needs a new token and the lead waits; throttling and transient
    errors: wait with backoff, for up to ``RETRY_WINDOW``; anything else fails the event."""
    if exc.needs_reauth:
        reason = str(exc)
        return RetryLater(
            f"Page {page.page_id} needs re-authorisation ({reason}); the lead waits.",
            REAUTH_WAIT_SECONDS,
            after=lambda: facebook_page_needs_reauth(page=page, reason=reason),
        )
    if exc.transient:
        if timezone.now() - event.received_at > RETRY_WINDOW:
            return ParseError(f"Still failing after {RETRY_WINDOW} reading {what}: {exc}")
        delay = round(backoff(event.attempts, base=RETRY_BASE_SECONDS, cap=RETRY_MAX_SECONDS))
        return RetryLater(f"Reading {what} failed, retrying in {delay} s: {exc}", delay)
    return ParseError(f"Reading {what} failed: {exc}")
