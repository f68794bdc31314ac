"""Web Push's pages: the service worker and the app's manifest (the installable app), an
agent's devices (turn on, remove) and the notification's Accept or Claim.

The service worker is served from the site's root (``/sw.js``), so its scope is the whole
app, as a static file would not be; it is plain JavaScript from our own origin, within the
CSP (``script-src 'self'``). The manifest is ``/manifest.webmanifest``.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from leads import selectors
from leads import services as leads_services
from leads.models import Agent, Lead

from . import push


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    response = render(request, "alerts/sw.js", content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"  # a new version reaches devices at once
    return response


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    """The web app manifest: Leadline on the home screen, opening on the inbox."""
    icons = [
        {"src": static(f"alerts/icon-{size}.png"), "sizes": f"{size}x{size}", "type": "image/png",
         "purpose": purpose}
        for size, purpose in ((192, "any"), (512, "any"), (512, "maskable"))
    ]  # fmt: skip
    body = {
        "name": "Leadline",
        "short_name": "Leadline",
        "description": "Your leads, the moment they come in.",
        "id": "/",
        "start_url": reverse("leads:inbox"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#f4f6f8",
        "theme_color": "#0f4c5c",
        "icons": icons,
    }
    return HttpResponse(json.dumps(body), content_type="application/manifest+json")


def _agent(request: HttpRequest) -> Agent | None:
    return selectors.agent_for(request.user) if request.user.is_authenticated else None


@require_POST
def subscribe(request: HttpRequest) -> HttpResponse:
    """``POST`` the browser's ``PushSubscription`` (JSON, with the page's CSRF token): this
    device now gets the signed-in agent's alerts."""
    agent = _agent(request)
    if agent is None:
        return JsonResponse({"error": "Sign in as an agent first."}, status=403)
    if not push.configured():
        return JsonResponse({"error": "Push notifications are off on this server."}, status=409)
    try:
        body: Any = json.loads(request.body)
        endpoint, keys = body["endpoint"], body["keys"]
        p256dh, auth = keys["p256dh"], keys["auth"]
        if not all(isinstance(v, str) for v in (endpoint, p256dh, auth)):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return JsonResponse(
            {"error": "Send the PushSubscription as JSON: endpoint, keys.p256dh, keys.auth."},
            status=400,
        )
    try:
        device = push.subscription_save(
            agent=agent, endpoint=endpoint, p256dh=p256dh, auth=auth,
            device=push.device_name(request.headers.get("User-Agent", "")),
        )  # fmt: skip
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"id": device.pk, "device": device.device}, status=201)


@require_POST
def remove(request: HttpRequest, pk: int) -> HttpResponse:
    """The agent removes one of their devices (from the settings page)."""
    agent = _agent(request)
    if agent is None:
        return redirect(settings.LOGIN_URL)
    if not push.subscription_remove(agent=agent, pk=pk):
        raise Http404("No such device of yours.")
    messages.success(request, "Removed: that device gets no more notifications.")
    return redirect(reverse("leads:settings") + "#push-devices")


def _said(
    title: str, body: str = "", *, ok: bool, url: str = "", status: int = 200
) -> JsonResponse:
    """What the service worker shows in a second notification; tapping it opens ``url``."""
    return JsonResponse({"ok": ok, "title": title, "body": body, "url": url}, status=status)


STOPPED = "The clock has stopped. Tap to open the lead."


@csrf_exempt  # the service worker has no CSRF cookie: the signed one-use token is the proof
@require_POST
def act(request: HttpRequest) -> JsonResponse:
    """A notification's Accept or Claim, from the service worker: ``token`` (the push's)
    and ``do`` (the button's action). Answers what happened, for a second notification."""
    try:
        action = push.action_read(request.POST.get("token", ""))
    except ValueError as exc:
        return _said("Open the lead", str(exc), ok=False, status=400)
    url = reverse("leads:lead", args=[action.lead_id])
    if request.POST.get("do", action.action) != action.action:
        return _said("Open the lead", "do: not this notification's action.", ok=False, url=url,
                     status=400)  # fmt: skip
    agent = Agent.objects.filter(pk=action.agent_id, is_active=True, user__is_active=True).first()
    lead = Lead.objects.select_related("assigned_agent").filter(pk=action.lead_id).first()
    if agent is None or lead is None:
        return _said("Not possible", "This lead or agent is no longer active.", ok=False,
                     status=403)  # fmt: skip
    if action.action == "accept" and lead.assigned_agent_id == agent.pk:
        if leads_services.lead_accept(lead=lead, agent=agent):
            return _said("Accepted", STOPPED, ok=True, url=url)
        return _said("Already accepted", ok=True, url=url)
    if action.action == "claim" or lead.assigned_agent_id is None:
        result = leads_services.lead_claim(lead=lead, agent=agent)
        if result.won:
            return _said("It's yours", STOPPED, ok=True, url=url)
        holder = result.holder.display_name if result.holder else "another agent"
        return _said("Too late", f"{holder} already has this lead.", ok=False, url=url,
                     status=409)  # fmt: skip
    moved = selectors.lead_moved_on(user=agent.user, pk=lead.pk)
    said = moved.title if moved is not None else "This lead is no longer yours."
    return _said("No longer yours", said, ok=False, url=url, status=409)
