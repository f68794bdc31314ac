"""Web Push: agents' devices, what a push says, how it is sent, and its Accept/Claim token.

- A device's subscription (``PushSubscription``) is made by the browser (``PushManager``)
  and kept per agent and device; its endpoint must be one of the browsers' push services
  (``WEBPUSH_ALLOWED_HOSTS``): the server posts there, so it must not be any address.
- A push is the alert's facts as JSON, encrypted for the device (``aes128gcm``, RFC 8291,
  by ``pywebpush``) and signed for the push service with our VAPID key (RFC 8292), posted
  through ``integrations.lib.http``.
- The notification's Accept or Claim button posts back a signed token (``action_token``):
  it names the lead, the agent and the action, is good for ``ACTION_MAX_AGE`` and once. The
  service worker holds no session and no CSRF cookie; the token is the whole credential.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from integrations.lib import http
from leads.models import Agent

from .models import PushSubscription

if TYPE_CHECKING:
    from .facts import AlertFacts
    from .models import AgentAlert

ACTION_SALT = "leadline.alerts.push-action"
ACTION_MAX_AGE = 24 * 60 * 60
# What the notification offers per alert kind; other kinds (an escalation to a manager, a
# reply) open the lead's page when tapped.
ACTIONS: dict[str, tuple[str, str]] = {
    "assigned": ("accept", "Accept"),
    "reminder": ("accept", "Accept"),
    "offered": ("claim", "Claim"),
}
# How long the push service keeps a push for a device that is off: the alert's retry window.
TTL_SECONDS = 15 * 60
MAX_MESSAGE = 240


def configured() -> bool:
    return bool(settings.WEBPUSH_VAPID_PUBLIC_KEY and settings.WEBPUSH_VAPID_PRIVATE_KEY)


def vapid_keys() -> tuple[str, str]:
    """A new VAPID key pair (P-256) as base64url: the public key as browsers take it
    (``applicationServerKey``, the uncompressed point) and the private key's raw scalar."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from py_vapid.utils import b64urlencode

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_numbers()
    point = b"\x04" + public.x.to_bytes(32, "big") + public.y.to_bytes(32, "big")
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return b64urlencode(point), b64urlencode(scalar)


def endpoint_allowed(endpoint: str) -> bool:
    """An https URL of a push service in ``WEBPUSH_ALLOWED_HOSTS`` (``*.`` for subdomains);
    http only for a local test server named there."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    local = host in ("127.0.0.1", "localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        return False
    for allowed in settings.WEBPUSH_ALLOWED_HOSTS:
        allowed = allowed.lower()
        if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
            return True
    return False


# --- Devices -------------------------------------------------------------------------------


def subscription_save(
    *, agent: Agent, endpoint: str, p256dh: str, auth: str, device: str = ""
) -> PushSubscription:
    """Keep the device's subscription for ``agent`` (the device's last agent to turn
    notifications on has it). ``ValueError`` naming the field when it is not one."""
    if not endpoint_allowed(endpoint) or len(endpoint) > 1000:
        raise ValueError("endpoint: not the address of a browser's push service.")
    from pywebpush import WebPusher, WebPushException

    try:  # the keys must be a P-256 point and a secret, as the browser gives them
        WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
        if len(p256dh) > 120 or not 16 <= len(auth) <= 60:
            raise ValueError
    except (WebPushException, ValueError, TypeError) as exc:
        raise ValueError("keys: not the keys of a push subscription.") from exc
    subscription, _ = PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={"agent": agent, "p256dh": p256dh, "auth": auth, "device": device[:200],
                  "last_error": ""},
    )  # fmt: skip
    return subscription


def subscription_remove(*, agent: Agent, pk: int) -> bool:
    """The agent removes one of their own devices; False when it is not theirs (or gone)."""
    deleted, _ = PushSubscription.objects.filter(agent=agent, pk=pk).delete()
    return bool(deleted)


def device_name(user_agent: str) -> str:
    """ "Chrome on Android", "Safari on iPhone": enough for an agent to tell devices apart."""
    ua = user_agent
    system = next(
        (name for key, name in (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"),
                                ("Windows", "Windows"), ("Mac OS X", "Mac"), ("Linux", "Linux"))
         if key in ua), "",
    )  # fmt: skip
    browser = next(
        (name for key, name in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("CriOS", "Chrome"),
                                ("Chrome/", "Chrome"), ("Safari/", "Safari"))
         if key in ua), "A browser",
    )  # fmt: skip
    return f"{browser} on {system}" if system else browser


# --- What a push says -----------------------------------------------------------------------


def action_token(alert: AgentAlert, action: str) -> str:
    """The signed, one-use token of the notification's ``action`` for this alert's agent."""
    value = {"l": alert.lead_id, "g": alert.agent_id, "do": action, "n": secrets.token_hex(8)}
    return signing.dumps(value, salt=ACTION_SALT, compress=True)


@dataclass(frozen=True)
class Action:
    lead_id: int
    agent_id: int
    action: str


def action_read(token: str) -> Action:
    """The action a token stands for, once: ``ValueError`` (in words) when it was altered,
    is older than ``ACTION_MAX_AGE`` or was used already."""
    try:
        value = signing.loads(token, salt=ACTION_SALT, max_age=ACTION_MAX_AGE)
        action = Action(lead_id=int(value["l"]), agent_id=int(value["g"]), action=value["do"])
        nonce = str(value["n"])
    except signing.SignatureExpired as exc:
        raise ValueError("This notification is too old: open the lead instead.") from exc
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise ValueError("token: not a notification's token.") from exc
    # Shared by every process (Redis or the database's cache table), so once means once.
    if not caches["throttle"].add(f"push:used:{nonce}", 1, timeout=ACTION_MAX_AGE):
        raise ValueError("This button was used already.")
    return action


def payload(alert: AgentAlert, facts: AlertFacts) -> dict[str, Any]:
    """The notification: the alert's headline and the person, what they asked, where to
    go, and the Accept or Claim button with its token."""
    from django.urls import reverse

    lead = facts.lead
    details = " · ".join(part for part in (facts.lead_type, facts.place, facts.price) if part)
    message = facts.message.strip()
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1].rstrip() + "…"
    body = "\n".join(part for part in (details, message) if part)
    data: dict[str, Any] = {
        "title": f"{facts.headline}: {facts.name}"[:120],
        "body": body,
        "url": reverse("leads:lead", args=[lead.pk]),
        "tag": f"lead-{lead.pk}",
        "kind": alert.kind,
        "actions": [],
    }
    if alert.kind in ACTIONS:
        action, title = ACTIONS[alert.kind]
        data["actions"] = [{"action": action, "title": title}]
        data["token"] = action_token(alert, action)
        data["act"] = reverse("alerts:push_act")
    return data


# --- Sending --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one device's push service answered: ``status`` (0: no answer) and ``error``."""

    subscription: PushSubscription
    status: int
    message_id: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status in (404, 410)

    @property
    def ours(self) -> bool:
        """Our VAPID key or claims refused: configuration, not the device."""
        return self.status in (401, 403)

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status == 429 or self.status >= 500


def deliver(subscription: PushSubscription, data: dict[str, Any]) -> Outcome:
    """Encrypt ``data`` for the device and post it to its push service, once (the alert's
    own retries try again). Touches no database: safe in a thread."""
    from pywebpush import Vapid, WebPusher

    endpoint = subscription.endpoint
    body = WebPusher(subscription.subscription_info).encode(
        json.dumps(data, separators=(",", ":")).encode(), "aes128gcm"
    )["body"]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(endpoint))
    claims = {
        "aud": origin,
        "exp": int(time.time()) + 12 * 60 * 60,
        "sub": settings.WEBPUSH_CONTACT,
    }
    headers = {
        **Vapid.from_string(settings.WEBPUSH_VAPID_PRIVATE_KEY).sign(claims),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(TTL_SECONDS),
        "Urgency": "high",
        "Topic": str(data.get("tag", ""))[:32].replace("-", ""),
    }
    timeout = settings.WEBPUSH_TIMEOUT_SECONDS
    try:
        response = http.request(
            "POST", endpoint, data=body, headers=headers, timeout=(3.05, timeout), retries=0
        )
    except http.HttpError as exc:
        status = exc.status or 0
        return Outcome(subscription, status, error=f"push service answered {status or 'nothing'}")
    return Outcome(
        subscription, response.status_code, message_id=response.headers.get("Location", "")
    )


def outcomes_record(outcomes: list[Outcome]) -> None:
    """Write what the push services said: a device they no longer know is removed."""
    now = timezone.now()
    with transaction.atomic():
        for outcome in outcomes:
            sub = outcome.subscription
            if outcome.gone:
                PushSubscription.objects.filter(pk=sub.pk).delete()
            elif outcome.ok:
                PushSubscription.objects.filter(pk=sub.pk).update(last_sent_at=now, last_error="")
            else:
                PushSubscription.objects.filter(pk=sub.pk).update(last_error=outcome.error[:300])
