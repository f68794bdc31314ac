"""Twilio's callbacks: message statuses and agents' replies.

Both check ``X-Twilio-Signature`` with the library's ``RequestValidator`` against the URL
Twilio called, which is ``SITE_URL`` and the path (behind a proxy the request's own host
and scheme are the proxy's). Each request is stored raw first (an ``InboundEvent``, unique
on Twilio's ids, so a repeated callback changes nothing) and applied at once; a failure to
apply it is left on the event for an operator instead of answering with an error.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from integrations.intake.models import InboundEvent
from integrations.intake.services import event_store
from leads.auth import client_address as client_ip
from leads.inputs import InputError, check_id, clean_text

from . import inbound
from .channels import sms
from .models import AgentAlert
from .services import agent_for_phone, agent_text_receive, alert_status_record

logger = logging.getLogger(__name__)


def signed_by_twilio(request: HttpRequest) -> bool:
    """Whether the request carries Twilio's signature for our public URL and its body.

    Reads the raw body first, so that it is still there to store once the form is parsed.
    """
    _ = request.body
    signature = request.headers.get("X-Twilio-Signature", "")
    if not settings.TWILIO_AUTH_TOKEN or not signature:
        return False
    url = settings.SITE_URL + request.get_full_path()
    return bool(RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, request.POST, signature))


def unfit_id(*, sid: str, status: str = "") -> str:
    """Why ``MessageSid`` (or ``MessageStatus``) cannot be stored as an id; empty if it can."""
    try:
        check_id(sid, "MessageSid")
        check_id(status, "MessageStatus")
    except InputError as exc:
        return exc.message
    return ""


def _store(request: HttpRequest, source: str, external_id: str) -> InboundEvent | None:
    """Keep the callback raw; None when the same one was kept before."""
    stored = event_store(
        source=source,
        body=request.body,
        content_type=request.content_type or "",
        remote_addr=client_ip(request),
        external_id=external_id[:200],
        status=InboundEvent.Status.PROCESSED,
    )
    return stored.event if stored.created else None


def _failed(event: InboundEvent, exc: Exception) -> None:
    logger.exception("Twilio callback %s could not be applied", event.pk)
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
    )


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """``/hooks/twilio/status/``: a message's status moved (sent, delivered, failed...)."""
    if not signed_by_twilio(request):
        return HttpResponse("Invalid or missing X-Twilio-Signature.", status=403)
    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "")
    if not sid or not status:
        return HttpResponse("MessageSid and MessageStatus are required.", status=400)
    if problem := unfit_id(sid=sid, status=status):
        return HttpResponse(problem, status=400)
    event = _store(request, "twilio_status", f"{sid}:{status}")
    if event is not None:
        try:
            with transaction.atomic():
                _record_status(request.POST)
        except Exception as exc:
            _failed(event, exc)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """``/hooks/twilio/inbound/``: an agent texted our number (or a lead did: the handler
    registered in ``inbound`` takes those); the reply is TwiML."""
    if not signed_by_twilio(request):
        return HttpResponse("Invalid or missing X-Twilio-Signature.", status=403)
    sid = request.POST.get("MessageSid", "")
    if not sid:
        return HttpResponse("MessageSid is required.", status=400)
    if problem := unfit_id(sid=sid):
        return HttpResponse(problem, status=400)
    reply = MessagingResponse()
    event = _store(request, "twilio_sms", sid)
    if event is not None:
        try:
            with transaction.atomic():
                phone = request.POST.get("From", "")
                others = inbound.handler()
                if others is not None and agent_for_phone(phone) is None:
                    text = others(event.pk, request.POST)  # a lead's text: conversations
                else:
                    text = agent_text_receive(
                        phone=phone,
                        body=clean_text(request.POST.get("Body") or ""),
                        opt_out=sms.opt_out_of(request.POST),
                    )
            if text:
                reply.message(text)
        except Exception as exc:
            _failed(event, exc)
    return HttpResponse(str(reply), content_type="text/xml")


def _record_status(params: QueryDict) -> None:
    """A status callback, in Twilio's words, applied to its SMS alert."""
    reported = sms.callback_status(params)
    if reported is None:
        return
    sid, status, code = reported
    failed = status in (AgentAlert.Status.FAILED, AgentAlert.Status.UNDELIVERED)
    alert_status_record(
        channel=sms.SmsChannel.key,
        provider_id=sid,
        status=status,
        error=sms.carrier_error(code, status) if failed else None,
    )
