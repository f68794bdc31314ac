"""Facebook Lead Ads: the ``leadgen`` webhook, the Graph API that holds the answers, backfill.

The webhook carries no personal data, only ids: ``receive`` checks Facebook's signature and
stores one event per lead (``external_id`` = ``leadgen_id``, so Facebook's retries over 36
hours find the first one). On the queue, ``parse`` reads the lead from the Graph API with its
Page's token. The backfill asks the Graph API for each form's leads created since the last one
seen and stores the lead objects through the same path, so a lead the webhook missed arrives
once and one it delivered is not doubled.

Facebook's documentation: developers.facebook.com/docs/graph-api/webhooks/getting-started
(verification, ``X-Hub-Signature-256``, retries), .../marketing-api/guides/lead-ads/retrieving
(lead fields, ``/{form-id}/leads`` with ``filtering``), .../graph-api/guides/error-handling.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ValidationError
from django.core.mail import mail_admins
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from integrations.lib import http
from integrations.lib.backoff import backoff
from integrations.lib.encryption import DecryptionError
from integrations.lib.queue import enqueue_on_commit
from integrations.models import FacebookPage, InboundEvent
from integrations.sources.base import ParseError, Refused, RetryLater, Source
from leads.data import ConsentData, LeadData
from leads.models import Consent, Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip

logger = logging.getLogger(__name__)

KEY = "facebook"
PROCESS_TASK = "integrations.tasks.process_event"
# Facebook sends up to 1000 changes in one POST; this is several times that.
MAX_BODY_BYTES = 2 * 1024 * 1024
LEAD_FIELDS = (
    "id,created_time,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,form_id,"
    "field_data,custom_disclaimer_responses,is_organic,platform,partner_name,home_listing"
)
FORM_FIELDS = (
    "id,name,status,locale,questions,"
    "legal_content{custom_disclaimer{title,body{text},checkboxes{key,text,is_required}}}"
)
# Graph error codes (developers.facebook.com/docs/graph-api/guides/error-handling;
# 613 from marketing-api/overview/rate-limiting, 80005 the LeadGen throttle).
REAUTH_CODES = frozenset({190, 102})
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613, 80005})
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 60 * 60
# Facebook keeps a lead for 90 days, but a throttle that lasts a day needs a person.
RETRY_WINDOW = dt.timedelta(hours=24)
# A lead waiting for its page to be re-authorised is looked at again this often (and at once
# when a new token is saved).
REAUTH_WAIT_SECONDS = 60 * 60
# The backfill asks for leads a little older than the last one seen: clocks differ, and the
# duplicates it finds are answered by the events' unique external id.
BACKFILL_OVERLAP = dt.timedelta(minutes=5)

# Standard questions (field_data names) and the LeadData field each fills.
STANDARD_FIELDS = {
    "full_name": "full_name",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone_number": "phone",
    "phone": "phone",
    "zip_code": "property_zip",
    "zip": "property_zip",
    "post_code": "property_zip",
    "postal_code": "property_zip",
    "city": "property_city",
    "state": "property_state",
    "street_address": "property_address",
}
# What a form's custom question may be mapped to (FacebookPage.field_mapping).
MAPPABLE_FIELDS = (
    "first_name", "last_name", "email", "phone", "message", "lead_type", "property_address",
    "property_city", "property_state", "property_zip", "mls_number",
)  # fmt: skip
# A consent checkbox's channels, read from its key and wording; "phone" alone names no channel
# (texts and calls need separate consent), and a marketing box is not consent to be emailed
# about the inquiry.
CONSENT_WORDS = {
    Consent.Channel.SMS: ("sms", "text messag", "texts"),
    Consent.Channel.CALL: ("call",),
    Consent.Channel.EMAIL: ("email", "e-mail"),
}
MARKETING_WORDS = ("newsletter", "marketing", "promotion", "offers")


# --- Settings ------------------------------------------------------------------------------


@register()
def check_facebook_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A half-made Facebook configuration, or an unusable encryption key, says so at start."""
    problems: list[CheckMessage] = []
    if settings.FACEBOOK_APP_SECRET and not settings.FACEBOOK_VERIFY_TOKEN:
        problems.append(
            Warning(
                "FACEBOOK_APP_SECRET is set but FACEBOOK_VERIFY_TOKEN is not: Facebook's "
                "webhook subscription check will be refused.",
                id="integrations.W201",
            )
        )
    if not re.fullmatch(r"v\d+\.\d+", settings.FACEBOOK_GRAPH_API_VERSION):
        problems.append(
            Error(
                f"FACEBOOK_GRAPH_API_VERSION {settings.FACEBOOK_GRAPH_API_VERSION!r} is not a "
                "Graph API version such as v25.0.",
                id="integrations.E201",
            )
        )
    for key in settings.FIELD_ENCRYPTION_KEY:
        try:
            Fernet(key.encode())
        except ValueError:
            problems.append(
                Error(
                    "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key (32 url-safe "
                    "base64-encoded bytes).",
                    id="integrations.E202",
                )
            )
    return problems


# --- The Graph API ------------------------------------------------------------------------


class GraphError(Exception):
    """The Graph API refused a call; ``code`` is Facebook's error code (None: no answer)."""

    def __init__(
        self,
        message: str,
        code: int | None = None,
        subcode: int | None = None,
        *,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.transient = transient or code in TRANSIENT_CODES

    @property
    def needs_reauth(self) -> bool:
        return self.code in REAUTH_CODES

    def __str__(self) -> str:
        code = f" (code {self.code}" + (f", subcode {self.subcode})" if self.subcode else ")")
        return f"Graph API: {self.message}{code if self.code is not None else ''}"


def graph_url(path: str) -> str:
    return f"{settings.FACEBOOK_GRAPH_API_URL}/{settings.FACEBOOK_GRAPH_API_VERSION}/{path}"


def _auth_params(token: str) -> dict[str, str]:
    """The token, and its ``appsecret_proof`` (HMAC-SHA256 of the token with the app secret),
    which Facebook requires when the app's "Require App Secret" setting is on."""
    params = {"access_token": token}
    if settings.FACEBOOK_APP_SECRET:
        params["appsecret_proof"] = hmac.new(
            settings.FACEBOOK_APP_SECRET.encode(), token.encode(), hashlib.sha256
        ).hexdigest()
    return params


def graph_get(url: str, *, token: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET a Graph object or edge; raise ``GraphError`` with Facebook's error code."""
    try:
        response = http.request("GET", url, params={**(params or {}), **_auth_params(token)})
    except http.HttpError as exc:
        raise _graph_error(exc) from exc
    try:
        data = response.json()
    except ValueError as exc:
        raise GraphError("the answer is not JSON") from exc
    if not isinstance(data, dict):
        raise GraphError("the answer is not a JSON object")
    return data


def _graph_error(exc: http.HttpError) -> GraphError:
    try:
        error = exc.response.json().get("error", {}) if exc.response is not None else {}
    except ValueError:
        error = {}
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        # No Graph error object: a network failure or a proxy's page. 5xx and timeouts may
        # pass; a 4xx without an error object will not.
        return GraphError(str(exc), transient=not exc.permanent)
    subcode = error.get("error_subcode")
    return GraphError(
        str(error.get("message") or exc),
        code=error["code"],
        subcode=subcode if isinstance(subcode, int) else None,
    )


def graph_pages(url: str, *, token: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a Graph edge, following ``paging.next`` until it is absent.

    ``next`` is followed only on the configured Graph host, with our own token put back in
    place of the one Facebook writes into it.
    """
    while True:
        page = graph_get(url, token=token, params=params)
        data = page.get("data", [])
        if not isinstance(data, list):
            raise GraphError("the edge's data is not a list")
        yield from (item for item in data if isinstance(item, dict))
        next_url = (page.get("paging") or {}).get("next")
        if not isinstance(next_url, str) or not next_url.startswith(
            settings.FACEBOOK_GRAPH_API_URL + "/"
        ):
            return
        parts = urlsplit(next_url)
        url = parts._replace(query="", fragment="").geturl()
        params = {
            k: v for k, v in parse_qsl(parts.query) if k not in ("access_token", "appsecret_proof")
        }


# --- Pages: tokens, re-authorisation -------------------------------------------------------


def facebook_page_needs_reauth(*, page: FacebookPage, reason: str) -> bool:
    """Mark ``page`` as needing a new token, and tell operations once (after commit).

    Returns whether this call changed it: a page already marked is not mailed about again.
    """
    changed = FacebookPage.objects.filter(pk=page.pk, status=FacebookPage.Status.ACTIVE).update(
        status=FacebookPage.Status.NEEDS_REAUTH, status_reason=reason[:500]
    )
    page.status, page.status_reason = FacebookPage.Status.NEEDS_REAUTH, reason[:500]
    if changed:
        logger.warning("Facebook page %s needs re-authorisation: %s", page.page_id, reason)
        subject = f"Facebook page {page.name} needs re-authorisation"
        message = (
            f"Facebook refused the access token of the page {page.name} ({page.page_id}): "
            f"{reason}\n\nIts leads are kept and wait. Save a new Page access token in the "
            f"admin (Facebook pages) and they are read at once."
        )
        transaction.on_commit(lambda: mail_admins(subject, message))
    return bool(changed)


def facebook_page_set_token(*, page: FacebookPage, token: str) -> int:
    """Store a new Page access token (encrypted), make the page active again, and ring for
    the leads that waited for it. Returns how many events were put back on the queue."""
    page.set_access_token(token)
    page.status, page.status_reason = FacebookPage.Status.ACTIVE, ""
    page.save()
    waiting = list(
        InboundEvent.objects.filter(
            source=KEY, status=InboundEvent.Status.RECEIVED, meta__page_id=page.page_id
        ).values_list("pk", flat=True)
    )
    InboundEvent.objects.filter(pk__in=waiting).update(next_attempt_at=None)
    for event_id in waiting:
        enqueue_on_commit(PROCESS_TASK, event_id, task_name=f"event-{event_id}-reauth")
    return len(waiting)


def _token_for(page: FacebookPage) -> str:
    """The page's token, or ``RetryLater`` (marking the page) when there is none to use."""
    try:
        token = page.access_token()
    except DecryptionError as exc:
        reason = str(exc)
        raise RetryLater(
            f"Page {page.page_id} needs re-authorisation: {reason}",
            REAUTH_WAIT_SECONDS,
            after=lambda: facebook_page_needs_reauth(page=page, reason=reason),
        ) from exc
    if not token:
        raise RetryLater(
            f"Page {page.page_id} has no access token yet; the lead waits for one.",
            REAUTH_WAIT_SECONDS,
        )
    return token


# --- Receiving the webhook -----------------------------------------------------------------


class Malformed(Exception):
    """A signed body that is not a webhook we can read; the message names the problem."""


@dataclass(frozen=True)
class Change:
    entry: dict[str, Any]
    change: dict[str, Any]

    @property
    def value(self) -> dict[str, Any]:
        value: dict[str, Any] = self.change["value"]
        return value

    def envelope(self) -> bytes:
        """This one change in the shape Facebook sends, as the event's raw body."""
        entry = {k: v for k, v in self.entry.items() if k != "changes"}
        body = {"object": "page", "entry": [{**entry, "changes": [self.change]}]}
        return json.dumps(body, separators=(",", ":")).encode()


def read_changes(body: bytes) -> tuple[list[Change], list[Change]]:
    """Split a webhook body into its ``leadgen`` changes and the others.

    Raises ``Malformed`` for a body that is not JSON in Facebook's shape, or a ``leadgen``
    change without ``leadgen_id`` or ``page_id``.
    """
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Malformed(f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(payload, dict):
        raise Malformed("The body must be a JSON object with 'object' and 'entry'.")
    entries = payload.get("entry")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise Malformed("'entry' must be a list of objects.")
    leadgen: list[Change] = []
    others: list[Change] = []
    for entry in entries:
        changes = entry.get("changes", [])
        if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
            raise Malformed("'entry[].changes' must be a list of objects.")
        for change in changes:
            if payload.get("object") == "page" and change.get("field") == "leadgen":
                _check_leadgen(change.get("value"))
                leadgen.append(Change(entry, change))
            else:
                others.append(Change(entry, change))
    return leadgen, others


def _check_leadgen(value: Any) -> None:
    if not isinstance(value, dict):
        raise Malformed("A leadgen change must have a 'value' object.")
    for name in ("leadgen_id", "page_id"):
        if not _id(value.get(name)):
            raise Malformed(f"A leadgen change has no '{name}'.")


def _id(value: Any) -> str:
    """Facebook's ids arrive as numbers (older payloads) or strings; '0' means none."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return ""
    text = str(value).strip()
    return "" if text in ("", "0") else text


def signature_valid(body: bytes, header: str) -> bool:
    """``X-Hub-Signature-256`` is ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    secret = settings.FACEBOOK_APP_SECRET
    if not secret or not header:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


class FacebookSource(Source):
    key = KEY
    label = "Facebook Lead Ads"
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
                    external_id=_id(value["leadgen_id"]),
                    meta={
                        "page_id": _id(value["page_id"]),
                        "form_id": _id(value.get("form_id")),
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
            lead = self._fetch(event, page, _id(event.external_id))
        form_id = _id(lead.get("form_id")) or _id(event.meta.get("form_id"))
        form = self._form(event, page, form_id) if form_id else {}
        return [lead_data(event=event, page=page, lead=lead, form_id=form_id, form=form)]

    @staticmethod
    def _lead_of(event: InboundEvent) -> tuple[dict[str, Any] | None, str]:
        """The stored lead object (from a backfill) or ``None`` (a webhook's ids only), and
        the page it belongs to."""
        try:
            payload = json.loads(bytes(event.body).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParseError(f"The body is not valid JSON: {exc}.") from exc
        if isinstance(payload, dict) and "field_data" in payload:
            page_id = _id(event.meta.get("page_id"))
            if not page_id:
                raise ParseError("A backfilled lead without the page it came from (meta.page_id).")
            return payload, page_id
        try:
            leadgen, _ = read_changes(bytes(event.body))
        except Malformed as exc:
            raise ParseError(str(exc)) from exc
        if len(leadgen) != 1:
            raise ParseError(f"Expected one leadgen change, found {len(leadgen)}.")
        return None, _id(leadgen[0].value["page_id"])

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
        token = _token_for(page)
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


# --- From a Graph lead to LeadData ---------------------------------------------------------


def form_snapshot(form: dict[str, Any]) -> dict[str, Any]:
    """The parts of a lead form we keep: its name, and the consent wording people saw."""
    legal = form.get("legal_content") if isinstance(form.get("legal_content"), dict) else {}
    disclaimer = legal.get("custom_disclaimer") if isinstance(legal, dict) else None
    disclaimer = disclaimer if isinstance(disclaimer, dict) else {}
    body = disclaimer.get("body")
    body_text = body.get("text", "") if isinstance(body, dict) else str(body or "")
    checkboxes = disclaimer.get("checkboxes")
    if isinstance(checkboxes, dict):  # Graph wraps edges in {"data": [...]}
        checkboxes = checkboxes.get("data")
    return {
        "name": str(form.get("name", "")),
        "disclaimer_title": str(disclaimer.get("title", "")),
        "disclaimer_text": str(body_text),
        "checkboxes": {
            str(c.get("key")): str(c.get("text", ""))
            for c in (checkboxes if isinstance(checkboxes, list) else [])
            if isinstance(c, dict) and c.get("key")
        },
    }


def _answers(lead: dict[str, Any]) -> dict[str, str]:
    answers: dict[str, str] = {}
    for item in lead.get("field_data") or []:
        if isinstance(item, dict) and item.get("name"):
            values = item.get("values") or []
            values = values if isinstance(values, list) else [values]
            answers[str(item["name"])] = ", ".join(str(v) for v in values)
    return answers


def _created_time(lead: dict[str, Any], fallback: dt.datetime) -> dt.datetime:
    value = lead.get("created_time")
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return fallback


def _mapping_for(page: FacebookPage, form_id: str) -> dict[str, str]:
    mapping = page.field_mapping if isinstance(page.field_mapping, dict) else {}
    combined = {**(mapping.get("*") or {}), **(mapping.get(form_id) or {})}
    return {str(k): str(v) for k, v in combined.items() if v in MAPPABLE_FIELDS}


def lead_data(
    *,
    event: InboundEvent,
    page: FacebookPage,
    lead: dict[str, Any],
    form_id: str,
    form: dict[str, Any],
) -> LeadData:
    """Map a Graph lead to ``LeadData``: the standard questions, the page's mapping of the
    form's own questions, every answer kept on the lead, consent with the form's wording,
    and the ad, ad set and campaign for attribution."""
    answers = _answers(lead)
    values: dict[str, str] = {}
    messages: list[str] = []
    for name, target in {
        **{k: v for k, v in STANDARD_FIELDS.items() if k in answers},
        **_mapping_for(page, form_id),
    }.items():
        answer = answers.get(name, "").strip()
        if not answer:
            continue
        if target == "message":
            messages.append(f"{name.replace('_', ' ').rstrip('?')}: {answer}")
        else:
            values.setdefault(target, answer)
    full_name = values.pop("full_name", "")
    if full_name and not (values.get("first_name") or values.get("last_name")):
        first, _, last = full_name.rpartition(" ")
        values["first_name"], values["last_name"] = (first, last) if first else (last, "")
    email, phone = _email(values.get("email", "")), normalize_phone(values.get("phone", ""))
    if not email and not phone:
        raise ParseError(
            "The lead has no usable email address or phone number; its answers: "
            + (", ".join(sorted(answers)) or "none")
            + "."
        )
    received_at = _created_time(lead, event.received_at)
    lead_type = values.get("lead_type", "").lower()
    state = values.get("property_state", "").strip()
    webhook = _webhook_value(event)
    attribution = {
        "leadgen_id": _id(lead.get("id")) or event.external_id,
        "page_id": page.page_id,
        "form_id": form_id,
        "form_name": form.get("name", ""),
        "ad_id": _id(lead.get("ad_id")) or _id(webhook.get("ad_id")),
        "ad_name": str(lead.get("ad_name", "")),
        "adset_id": _id(lead.get("adset_id")),
        "adset_name": str(lead.get("adset_name", "")),
        "adgroup_id": _id(webhook.get("adgroup_id")),
        "campaign_id": _id(lead.get("campaign_id")),
        "campaign_name": str(lead.get("campaign_name", "")),
        "is_organic": bool(lead.get("is_organic", False)),
        "platform": str(lead.get("platform", "")),
        "created_time": str(lead.get("created_time", "")),
    }
    return LeadData(
        source=KEY,
        source_detail=" / ".join(p for p in (page.name, form.get("name", "")) if p),
        external_id=attribution["leadgen_id"],
        received_at=received_at,
        team_id=page.team_id,
        raw_event_id=event.pk,
        first_name=values.get("first_name", "")[:100],
        last_name=values.get("last_name", "")[:100],
        email=email,
        phone=phone,
        message="\n".join(messages)[:5000],
        lead_type=lead_type if lead_type in Lead.Type.values else Lead.Type.BUYER,
        property_address=values.get("property_address", "")[:255],
        property_city=values.get("property_city", "")[:100],
        property_state=state.upper() if len(state) == 2 else "",
        property_zip=normalize_zip(values.get("property_zip", "")),
        mls_number=values.get("mls_number", "")[:50],
        utm_source="facebook",
        utm_campaign=attribution["campaign_name"][:255],
        consents=_consents(lead, form, attribution, received_at),
        extra={"facebook": {**attribution, "answers": answers}},
    )


def _email(value: str) -> str:
    """The address, normalised, or ``""`` when it is not one (it stays among the answers)."""
    email = normalize_email(value)
    try:
        validate_email(email)
    except ValidationError:
        return ""
    return email


def _webhook_value(event: InboundEvent) -> dict[str, Any]:
    """The webhook's own ids (``adgroup_id`` is only there), or nothing for a backfill."""
    try:
        leadgen, _ = read_changes(bytes(event.body))
    except Malformed:
        return {}
    return leadgen[0].value if len(leadgen) == 1 else {}


def _consents(
    lead: dict[str, Any], form: dict[str, Any], attribution: dict[str, Any], at: dt.datetime
) -> tuple[ConsentData, ...]:
    """Each consent checkbox answer, with the words of the form's disclaimer and checkbox.

    Facebook sends only the checkbox key and whether it was ticked; the channel is read from
    the checkbox's key and wording (marketing email, else SMS, call, email), and a checkbox
    naming none of them is taken to cover all three, its wording kept word for word beside it.
    """
    consents: list[ConsentData] = []
    for response in lead.get("custom_disclaimer_responses") or []:
        if not isinstance(response, dict) or not response.get("checkbox_key"):
            continue
        key = str(response["checkbox_key"])
        checkbox_text = form.get("checkboxes", {}).get(key, "")
        words = [form.get("disclaimer_title", ""), form.get("disclaimer_text", ""), checkbox_text]
        text = "\n\n".join(w for w in words if w) or f"(checkbox {key}; wording not available)"
        granted = str(response.get("is_checked", "")).lower() in ("1", "true")
        haystack = f"{key} {checkbox_text}".lower()
        if any(word in haystack for word in MARKETING_WORDS):
            channels = [Consent.Channel.MARKETING_EMAIL]
        else:
            channels = [
                c for c, hints in CONSENT_WORDS.items() if any(h in haystack for h in hints)
            ]
        evidence = {
            "checkbox_key": key,
            "is_checked": response.get("is_checked"),
            "leadgen_id": attribution["leadgen_id"],
            "form_id": attribution["form_id"],
            "page_id": attribution["page_id"],
        }
        consents.extend(
            ConsentData(channel, granted, text, at, evidence)
            for channel in channels or list(CONSENT_WORDS)
        )
    return tuple(consents)


# --- Backfill ------------------------------------------------------------------------------


@dataclass
class BackfillResult:
    forms: int = 0
    seen: int = 0
    stored: int = 0
    error: str = ""


def facebook_backfill(*, page: FacebookPage, now: dt.datetime | None = None) -> BackfillResult:
    """Store every lead of the page's forms created since the last one seen, as events.

    Each lead is stored with ``external_id`` = its id, the webhook's ``leadgen_id``, so one
    already received is found, not doubled. A page that needs re-authorisation is skipped;
    a 190/102 answer marks it so. Returns what was seen and stored, and the error that
    stopped it, if one did.
    """
    now = now or timezone.now()
    result = BackfillResult()
    if page.status != FacebookPage.Status.ACTIVE:
        result.error = "The page needs re-authorisation."
        return result
    since = (page.last_lead_time or page.created_at) - BACKFILL_OVERLAP
    newest = page.last_lead_time
    source = FacebookSource()
    try:
        token = page.access_token()
        forms = graph_pages(
            graph_url(f"{page.page_id}/leadgen_forms"),
            token=token,
            params={"fields": "id,name,status", "limit": 100},
        )
        for form in forms:
            result.forms += 1
            for lead in _form_leads(_id(form.get("id")), token, since):
                result.seen += 1
                result.stored += _store_backfilled(source, page, lead)
                created = _created_time(lead, now)
                newest = max(newest, created) if newest else created
    except DecryptionError as exc:
        facebook_page_needs_reauth(page=page, reason=str(exc))
        result.error = str(exc)
    except GraphError as exc:
        if exc.needs_reauth:
            facebook_page_needs_reauth(page=page, reason=str(exc))
        logger.warning("backfill of Facebook page %s stopped: %s", page.page_id, exc)
        result.error = str(exc)
    # Only a complete pass moves the mark on; an interrupted one is asked again next time.
    fields: dict[str, dt.datetime | None] = {"last_backfill_at": now}
    if not result.error:
        fields["last_lead_time"] = newest
    FacebookPage.objects.filter(pk=page.pk).update(**fields)
    for name, value in fields.items():
        setattr(page, name, value)
    return result


def _form_leads(form_id: str, token: str, since: dt.datetime) -> Iterator[dict[str, Any]]:
    if not form_id:
        return iter(())
    filtering = [
        {"field": "time_created", "operator": "GREATER_THAN", "value": int(since.timestamp())}
    ]
    return graph_pages(
        graph_url(f"{form_id}/leads"),
        token=token,
        params={"fields": LEAD_FIELDS, "limit": 100, "filtering": json.dumps(filtering)},
    )


def _store_backfilled(source: FacebookSource, page: FacebookPage, lead: dict[str, Any]) -> int:
    """Store one Graph lead raw as an event (1) unless its id was received before (0)."""
    from integrations.services import event_store

    leadgen_id = _id(lead.get("id"))
    if not leadgen_id:
        return 0
    stored = event_store(
        source=source.key,
        body=json.dumps(lead, separators=(",", ":")).encode(),
        content_type="application/json",
        external_id=leadgen_id,
        meta={"page_id": page.page_id, "form_id": _id(lead.get("form_id")), "via": "backfill"},
    )
    return int(stored.created)


def facebook_backfill_all() -> dict[str, int]:
    """Backfill every active page; the scheduled task. Returns leads stored per page id."""
    return {
        page.page_id: facebook_backfill(page=page).stored
        for page in FacebookPage.objects.filter(status=FacebookPage.Status.ACTIVE)
    }
