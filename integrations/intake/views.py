"""The doors: hosted web forms, and (one module per source) the vendors' webhooks.

Every view is a few lines: check the sender, store the request raw, answer. Parsing happens
on the queue.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from integrations.lib import cache

from .models import WebForm
from .selectors import web_form_active
from .sources import get_source
from .sources.base import Refused, client_ip
from .sources.webform import (
    HONEYPOT_FIELD,
    TOKEN_FIELD,
    SubmissionError,
    SubmissionForm,
    external_id_for,
    read_submission,
    render_token,
    submission_meta,
    token_age,
    validate_submission,
)

PREFILL_FIELDS = (*SubmissionForm.HIDDEN, "lead_type", "zip_code", "mls_number", "property_address")


def _origin_of(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def origin_allowed(web_form: WebForm, origin: str, request: HttpRequest) -> bool:
    """Our own site, or one the form's allow-list names."""
    origin = _origin_of(origin)
    own = {_origin_of(settings.SITE_URL), _origin_of(request.build_absolute_uri("/"))}
    return origin in own or origin in {_origin_of(o) for o in web_form.allowed_origins}


def _wants_json(request: HttpRequest) -> bool:
    content_type = request.content_type or ""
    return content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    )


def _error(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """One error shape: JSON ``{status, code, message, fields}`` or a short plain page."""
    if _wants_json(request):
        body = {"status": status, "code": code, "message": message, "fields": fields or {}}
        response: HttpResponse = JsonResponse(body, status=status)
    else:
        response = render(
            request,
            "intake/webform_error.html",
            {"message": message, "fields": fields or {}},
            status=status,
        )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _allow_cors(response: HttpResponse, origin: str) -> HttpResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    return response


def _frame_ancestors(response: HttpResponse, web_form: WebForm) -> HttpResponse:
    sources = " ".join(["'self'", *(_origin_of(o) for o in web_form.allowed_origins)])
    response["Content-Security-Policy"] = f"frame-ancestors {sources.strip()}"
    return response


def _rate_limited(web_form: WebForm, ip: str) -> bool:
    """A fixed window per form and address, counted in the cache; when the cache cannot be
    reached the submission goes through (a lost lead costs more than a spammer's post)."""
    count = cache.count(f"webform-rate:{web_form.pk}:{ip}", settings.WEBFORM_RATE_WINDOW)
    return count is not None and count > settings.WEBFORM_RATE_LIMIT


@csrf_exempt
@xframe_options_exempt
@never_cache
def webform(request: HttpRequest, public_key: str) -> HttpResponse:
    """``GET`` shows the form, ``POST`` submits it (form data or JSON), ``OPTIONS`` is CORS."""
    web_form = web_form_active(public_key)
    if web_form is None:
        raise Http404("No such web form.")
    origin = request.headers.get("Origin", "")
    if origin and origin != "null" and not origin_allowed(web_form, origin, request):
        return _error(request, 403, "origin_not_allowed", f"Posting from {origin} is not allowed.")
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type, Accept"
        response["Access-Control-Max-Age"] = "600"
        return _allow_cors(response, origin)
    if request.method == "GET":
        return _frame_ancestors(_render_form(request, web_form), web_form)
    if request.method != "POST":
        response = _error(request, 405, "method_not_allowed", "Use GET or POST.")
        response["Allow"] = "GET, POST, OPTIONS"
        return response
    return _frame_ancestors(_allow_cors(_submit(request, web_form), origin), web_form)


def _render_form(
    request: HttpRequest,
    web_form: WebForm,
    form: SubmissionForm | None = None,
    token: str | None = None,
    status: int = 200,
) -> HttpResponse:
    if form is None:
        initial: dict[str, Any] = {
            name: request.GET[name][:255] for name in PREFILL_FIELDS if name in request.GET
        }
        initial.setdefault("submission_id", uuid.uuid4().hex)
        initial.setdefault("lead_type", web_form.default_lead_type)
        initial.setdefault("referrer", request.headers.get("Referer", "")[:2000])
        form = SubmissionForm(initial=initial, web_form=web_form)
    context = {
        "web_form": web_form,
        "form": form,
        "token": token or render_token(web_form),
        "token_field": TOKEN_FIELD,
        "honeypot_field": HONEYPOT_FIELD,
        "embed": request.GET.get("embed") == "1",
    }
    return render(request, "intake/webform.html", context, status=status)


def _submit(request: HttpRequest, web_form: WebForm) -> HttpResponse:
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.WEBFORM_MAX_BODY_BYTES:
        return _error(request, 413, "too_large", "The submission is too large.")
    ip = client_ip(request)
    if _rate_limited(web_form, ip):
        window = str(settings.WEBFORM_RATE_WINDOW)
        return _error(
            request, 429, "rate_limited", "Too many submissions; try again later.",
            headers={"Retry-After": window},
        )  # fmt: skip
    body = request.body
    if len(body) > settings.WEBFORM_MAX_BODY_BYTES:
        return _error(request, 413, "too_large", "The submission is too large.")
    try:
        fields = read_submission(body, request.META.get("CONTENT_TYPE", ""))
    except SubmissionError as exc:
        return _error(request, 400, "invalid", exc.message, exc.fields)

    if fields.get(HONEYPOT_FIELD):
        # A bot filled the field people cannot see: thank it and keep nothing.
        return _accepted(request, web_form, str(uuid.uuid4()), created=True)

    token = fields.get(TOKEN_FIELD, "")
    age = token_age(token, web_form, settings.WEBFORM_TOKEN_MAX_AGE) if token else None
    if age is None:
        message = "This form has expired or was not loaded from our page; reload it and try again."
        return _invalid(request, web_form, fields, message, {TOKEN_FIELD: [message]})
    if age < settings.WEBFORM_MIN_FILL_SECONDS:
        message = "The form was sent too quickly after it was opened; please send it again."
        return _invalid(request, web_form, fields, message, {TOKEN_FIELD: [message]}, token)
    cleaned, errors = validate_submission(fields, web_form)
    if errors:
        message = "Please correct the fields marked: " + ", ".join(sorted(errors)) + "."
        return _invalid(request, web_form, fields, message, errors, token)

    stored = get_source("webform").store(
        request,
        external_id=external_id_for(web_form, cleaned["submission_id"]),
        meta=submission_meta(web_form, cleaned),
    )
    return _accepted(request, web_form, str(stored.event.public_id), created=stored.created)


def _see_other(url: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


def _invalid(
    request: HttpRequest,
    web_form: WebForm,
    fields: dict[str, Any],
    message: str,
    errors: dict[str, list[str]],
    token: str | None = None,
) -> HttpResponse:
    """400: the errors as JSON, or the form shown again with them and the values sent."""
    if _wants_json(request):
        return _error(request, 400, "invalid", message, errors)
    form = SubmissionForm(fields, web_form=web_form)
    form.is_valid()
    for error in errors.get(TOKEN_FIELD, []):
        form.add_error(None, error)
    return _render_form(request, web_form, form, token=token, status=400)


def _accepted(
    request: HttpRequest, web_form: WebForm, event_id: str, created: bool
) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"id": event_id, "status": "received"}, status=201 if created else 200)
    if web_form.return_url:
        return _see_other(web_form.return_url)
    return render(
        request,
        "intake/webform_thanks.html",
        {"web_form": web_form, "embed": request.GET.get("embed") == "1"},
    )


@require_GET
def webform_embed(request: HttpRequest, public_key: str) -> HttpResponse:
    """A script that puts the form in an iframe where the ``<script>`` tag stands."""
    web_form = get_object_or_404(WebForm, public_key=public_key, is_active=True)
    form_url = settings.SITE_URL + reverse("intake:webform", args=[web_form.public_key])
    script = render_to_string(
        "intake/embed.js",
        {"form_url": form_url, "site_origin": _origin_of(settings.SITE_URL)},
    )
    response = HttpResponse(script, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@csrf_exempt
@never_cache
def hook(request: HttpRequest, source_key: str, **kwargs: Any) -> HttpResponse:
    """The one door for every vendor webhook: the source module does the work.

    A sender that cannot prove who it is gets the source's 401/403 and nothing is stored.
    """
    try:
        return get_source(source_key).receive(request, **kwargs)
    except Refused as exc:
        body = {"status": exc.status, "code": "refused", "message": exc.message}
        return JsonResponse(body, status=exc.status)
