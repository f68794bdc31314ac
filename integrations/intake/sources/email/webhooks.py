"""The providers' inbound-email webhooks, through django-anymail, under ``/hooks/email/``.

Each provider's route is anymail's own path (``amazon_ses/inbound/``,
``mailgun/inbound/`` and ``mailgun/inbound_mime/``, ``postmark/inbound/``,
``sendgrid/inbound/``) and its check anymail's: HTTP Basic with ``ANYMAIL_WEBHOOK_SECRET``
(the credentials you put in the URL you give the provider), and Mailgun's HMAC signature with
``MAILGUN_WEBHOOK_SIGNING_KEY``. A provider whose secret is unset is off (404): anymail would
otherwise accept unauthenticated posts with only a warning. A forged post is refused (400)
before anything is stored; an authentic one is stored raw as an ``email`` event (the door is
the provider) by :func:`email_inbound`, anymail's ``inbound`` signal's receiver, and a
database error answers 500 so the provider retries. An authentic post anymail cannot read a
message from (a JSON that is not Postmark's, a form without SendGrid's fields, a body in
another content type) is stored failed with the reason and answered 400.

Posts are read here, up to ``EMAIL_INTAKE_WEBHOOK_MAX_BYTES`` (413 beyond), and not under the
project's ``DATA_UPLOAD_MAX_MEMORY_SIZE``, which is sized for forms, not for lead emails with
their attachments.
"""

from __future__ import annotations

from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.urls import URLPattern
from django.utils.crypto import constant_time_compare
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt

from .source import email_post_unreadable, email_store

# anymail's URL name -> (the door's name, the secret that must be set for it).
PROVIDERS = {
    "amazon_ses_inbound_webhook": ("amazon_ses", "WEBHOOK_SECRET"),
    "mailgun_inbound_webhook": ("mailgun", "MAILGUN_WEBHOOK_SIGNING_KEY"),
    "postmark_inbound_webhook": ("postmark", "WEBHOOK_SECRET"),
    "sendgrid_inbound_webhook": ("sendgrid", "WEBHOOK_SECRET"),
}
# What anymail raises reading a post it cannot make a message of (past its check of the sender,
# which raises AnymailWebhookValidationFailure, a 400 of Django's): invalid JSON or UTF-8, a
# field missing, a value of another type, nesting too deep for its JSON parser.
UNREADABLE = (ValueError, LookupError, TypeError, AttributeError, RecursionError)
DOORS = {
    "Amazon SES": "amazon_ses",
    "Mailgun": "mailgun",
    "Postmark": "postmark",
    "SendGrid": "sendgrid",
}


def email_inbound(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """anymail's ``inbound`` signal: store the message raw (an error propagates: a 500, and
    the provider tries again)."""
    message = event.message
    if message is None:
        return
    recipient = getattr(message, "envelope_recipient", None) or ""
    email_store(
        raw=message.as_bytes(),
        door=DOORS.get(esp_name, esp_name.lower().replace(" ", "_")),
        recipient=str(recipient),
    )


def configured(secret: str) -> bool:
    return bool(getattr(settings, "ANYMAIL", {}).get(secret))


def _read_form(request: HttpRequest, body: bytes) -> None:
    """Fill ``request.POST`` and ``request.FILES`` from ``body`` without Django's form limits."""
    content_type = request.META.get("CONTENT_TYPE", "")
    post = QueryDict(mutable=True)
    files: MultiValueDict[str, SimpleUploadedFile] = MultiValueDict()
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        form = BytesParser(policy=policy.HTTP).parsebytes(head + body)
        parts = form.iter_parts() if isinstance(form, EmailMessage) and form.is_multipart() else []
        for part in parts:
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if filename := part.get_filename():
                files.appendlist(name, SimpleUploadedFile(filename, data, part.get_content_type()))
            else:
                post.appendlist(name, data.decode(part.get_content_charset() or "utf-8", "replace"))
    elif content_type.startswith("application/x-www-form-urlencoded"):
        post = QueryDict(body, mutable=True)
    request._post, request._files = post, files  # type: ignore[attr-defined]


def basic_auth_refused(request: HttpRequest) -> HttpResponse | None:
    """anymail's check of HTTP Basic (``ANYMAIL_WEBHOOK_SECRET``, compared in constant time),
    made first where a costlier check follows it: a stranger never makes us fetch Amazon's
    certificate. 401 asks for the credentials (SNS sends them only when asked); None when
    they hold."""
    from anymail.utils import get_request_basic_auth

    secret = settings.ANYMAIL.get("WEBHOOK_SECRET")
    allowed = [secret] if isinstance(secret, str) else list(secret or [])
    given = get_request_basic_auth(request)
    if given is not None and any(constant_time_compare(given, a) for a in allowed):
        return None
    response = JsonResponse({"error": "Missing or wrong HTTP Basic credentials."}, status=401)
    response["WWW-Authenticate"] = 'Basic realm="Leadline lead email"'
    return response


def sns_signature_refused(body: bytes) -> HttpResponse | None:
    """Amazon SES posts through SNS, which signs each message; anymail checks only its Basic
    auth, so the SNS signature is checked here as for Zillow's deliveries (the certificate
    fetched from Amazon's SNS host only). None when it holds."""
    from integrations.intake.sources.base import Refused
    from integrations.intake.sources.zillow import (
        CertificateUnavailable,
        read_envelope,
        verify_signature,
    )

    try:
        verify_signature(read_envelope(body))
    except Refused as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    except CertificateUnavailable:
        response = JsonResponse({"error": "Could not check the signature now; retry."}, status=503)
        response["Retry-After"] = "60"
        return response
    return None


def guarded(
    view: Callable[..., HttpResponse],
    name: str,
    secret: str,
    secret_check: Callable[[bytes], HttpResponse | None] | None = None,
) -> Callable[..., HttpResponse]:
    @csrf_exempt
    def inbound(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not configured(secret):
            return JsonResponse({"error": "Not found."}, status=404)
        limit = settings.EMAIL_INTAKE_WEBHOOK_MAX_BYTES
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
            return JsonResponse({"error": f"A post is at most {limit} bytes."}, status=413)
        if request.method == "POST":
            body = request.read(limit + 1)
            if len(body) > limit:
                return JsonResponse({"error": f"A post is at most {limit} bytes."}, status=413)
            request._body = body
            if secret_check is not None and (
                refused := basic_auth_refused(request) or secret_check(body)
            ):
                return refused
            _read_form(request, body)
        try:
            return view(request, *args, **kwargs)
        except UNREADABLE as exc:
            door = PROVIDERS[name][0]
            reason = (
                f"The {door} post holds no message anymail can read: {type(exc).__name__}: {exc}"
            )
            email_post_unreadable(
                body=request.body, content_type=request.content_type or "", door=door,
                reason=reason,
            )  # fmt: skip
            return JsonResponse({"error": reason[:500]}, status=400)

    return inbound


def email_hook_patterns() -> list[URLPattern]:
    """anymail's inbound routes for the providers above, each guarded; to mount under
    ``hooks/email/``."""
    from anymail.urls import urlpatterns

    checks = {"amazon_ses_inbound_webhook": sns_signature_refused}
    return [
        URLPattern(
            p.pattern,
            guarded(p.callback, p.name or "", PROVIDERS[p.name][1], checks.get(p.name or "")),
            p.default_args,
            p.name,
        )
        for p in urlpatterns
        if isinstance(p, URLPattern) and p.name in PROVIDERS
    ]
