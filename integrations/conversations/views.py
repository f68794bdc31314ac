"""Twilio's status callbacks for the texts to leads (``/hooks/twilio/messages/status/``).

Checked as the alerts' callbacks are (``X-Twilio-Signature`` over ``SITE_URL`` and the
path), stored raw first (an ``InboundEvent``, unique on the SID and status, so a repeat
changes nothing) and applied at once; a failure to apply is left on the event.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.alerts.views import signed_by_twilio, unfit_id
from integrations.intake.models import InboundEvent
from integrations.intake.services import event_store
from leads import selectors as leads_selectors
from leads.auth import client_address
from leads.models import Agent, Lead
from leads.views import agent_required

from .services import NoConsent, message_send, message_status_record

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not signed_by_twilio(request):
        return HttpResponse("Invalid or missing X-Twilio-Signature.", status=403)
    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "")
    if not sid or not status:
        return HttpResponse("MessageSid and MessageStatus are required.", status=400)
    if problem := unfit_id(sid=sid, status=status):
        return HttpResponse(problem, status=400)
    stored = event_store(
        source="twilio_status",
        body=request.body,
        content_type=request.content_type or "",
        remote_addr=client_address(request),
        external_id=f"{sid}:{status}"[:200],
        status=InboundEvent.Status.PROCESSED,
    )
    if stored.created:
        try:
            with transaction.atomic():
                message_status_record(
                    provider_id=sid,
                    twilio_status=status,
                    code=(request.POST.get("ErrorCode") or "").strip(),
                )
        except Exception as exc:
            logger.exception("Twilio status %s could not be applied", stored.event.pk)
            InboundEvent.objects.filter(pk=stored.event.pk).update(
                status=InboundEvent.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
            )
    return HttpResponse(status=204)


@require_POST
@agent_required
def send(request: HttpRequest, agent: Agent, pk: int) -> HttpResponseBase:
    """The lead page's send box: text the person, then back to the thread."""
    try:
        lead = leads_selectors.lead_get(user=request.user, pk=pk)
    except Lead.DoesNotExist:
        raise Http404("No such lead.") from None
    try:
        message_send(lead=lead, agent=agent, body=request.POST.get("body", ""))
    except NoConsent as exc:
        messages.error(request, f"Not sent: {exc}")
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValueError as exc:
        messages.error(request, str(exc).partition(": ")[2] or str(exc))
    else:
        messages.success(request, "Text on its way.")
    return redirect(reverse("leads:lead", args=[lead.pk]) + "#conversation")
