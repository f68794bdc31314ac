"""Outbound webhooks: our events, signed as Standard Webhooks, delivered at least once.

The domain's signals (:mod:`leads.signals`) become events (``lead.created``, ...). Each event
is written, inside the transaction of the change it tells of (an outbox), as one
:class:`WebhookDelivery` row per subscription that wants it, with the body as it will be
signed and sent, and the queue is rung for each after the commit. A failed attempt is logged
(:class:`WebhookAttempt`) and the next one scheduled with exponential backoff; the sweeper
(every minute) rings again for every delivery due, until ``WEBHOOK_RETRY_WINDOW_SECONDS``.
A retry due within ten minutes is rung at its time by the worker that failed the attempt
(``enqueue_at``); the sweep is the safety net.
A subscription failing for that whole window, or told 410 Gone, is disabled and operations
are told. Signing: https://www.standardwebhooks.com/ (``{id}.{timestamp}.{body}``, HMAC-SHA256
keyed with the base64-decoded secret after ``whsec_``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import mail_admins
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.lib import http
from integrations.lib.backoff import backoff
from integrations.lib.queue import enqueue_at, enqueue_on_commit

from .models import WebhookAttempt, WebhookDelivery, WebhookSubscription, events_start
from .selectors import subscriptions_exist, subscriptions_forget, subscriptions_wanting
from .signing import sign

logger = logging.getLogger(__name__)

DELIVER_TASK = "integrations.webhooks.tasks.deliver"
EXCERPT = 500


class UnsafeDestination(Exception):
    """The URL leads to an address we do not send to (private, loopback, link-local...)."""


# --- From the domain's signals to delivery rows ---------------------------------------------


def webhooks_enqueue(
    *,
    event_type: str,
    data: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
    team_ids: Iterable[int | None],
) -> list[WebhookDelivery]:
    """Record the event ``event_type``: one delivery per active subscription that wants it
    for these teams, each rung on the queue after the commit. Returns the deliveries (none,
    and no query while this process knows of no subscription, when nobody subscribes).

    Call it inside the transaction of the change it tells of (an outbox): the deliveries
    commit with the change or not at all, so no crash or database error between the two can
    lose the event; the sweeper rings for any delivery whose task was lost. ``data`` (or the
    function that builds it, called only when somebody wants the event) is fixed here as
    the body: every attempt sends and signs the same bytes.
    """
    subscriptions = subscriptions_wanting(event_type=event_type, team_ids=team_ids)
    if not subscriptions:
        return []
    now = timezone.now()
    message_id = f"msg_{uuid.uuid4().hex}"
    body = json.dumps(
        {
            "type": event_type,
            "timestamp": now.isoformat(),
            "data": data() if callable(data) else data,
        },
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    retry_until = now + dt.timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=subscription,
            message_id=message_id,
            event_type=event_type,
            payload=body,
            next_attempt_at=now,
            retry_until=retry_until,
        )
        for subscription in subscriptions
    )
    for delivery in deliveries:
        enqueue_on_commit(DELIVER_TASK, delivery.pk, task_name=f"webhook-{delivery.pk}")
    return deliveries


def webhooks_listening() -> bool:
    """Whether an event may be wanted by anybody now: False while this process knows of no
    active subscription (no query then). A caller whose change writes nothing else opens
    the outbox's transaction only when this is True, and calls ``webhooks_enqueue`` only
    then: a subscription made elsewhere starts after this process has looked again."""
    return subscriptions_exist()


# --- Sending --------------------------------------------------------------------------------


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def check_destination(url: str) -> str:
    """The address to send to for ``url``: its host looked up once and checked, to be
    connected to as it is (``http.request(connect_to=...)``), so that no second look-up can
    lead elsewhere. Raises ``UnsafeDestination`` for a URL we do not send to.

    Only ``https``; plain ``http`` only to this machine (localhost, 127.0.0.1, ::1) and only
    with ``DEBUG`` or ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` (a local receiver while developing
    or testing). Every address the host resolves to must be public unless
    ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES``: a subscription cannot make us call the database, the
    cloud's metadata service or anything else on our side of the firewall.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeDestination(f"Not an https URL: {url[:100]!r}.")
    local = settings.DEBUG or settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES
    if parts.scheme == "http" and not (local and parts.hostname in LOOPBACK_NAMES):
        raise UnsafeDestination("Use https: events carry people's details.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as exc:
        raise UnsafeDestination(f"Cannot resolve {parts.hostname}: {exc}.") from exc
    addresses = [str(info[4][0]).split("%")[0] for info in infos]
    if not addresses:
        raise UnsafeDestination(f"Cannot resolve {parts.hostname}.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        for text in addresses:
            address = ipaddress.ip_address(text)
            mapped = getattr(address, "ipv4_mapped", None)
            if not address.is_global or (mapped is not None and not mapped.is_global):
                raise UnsafeDestination(f"{parts.hostname} resolves to a non-public address.")
    return addresses[0]


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Make one attempt at a due delivery; safe to call any number of times.

    The delivery is claimed by a conditional UPDATE that pushes ``next_attempt_at`` past the
    attempt's longest duration, so of two workers rung for the same row one sends and the
    other finds it taken; no transaction is held open while the receiver answers. Returns
    the delivery after the attempt, or None when there was nothing to do.
    """
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or not delivery.subscription.is_active:
        return None
    lease = dt.timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    # Conditions on the row itself (no join), so the database re-checks them under the lock.
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + lease)
    if not claimed:
        return None
    delivery.refresh_from_db()
    subscription = delivery.subscription
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            subscription.secret, delivery.message_id, timestamp, delivery.payload
        ),
    }
    status_code: int | None = None
    excerpt = error = ""
    started = time.monotonic()
    try:
        address = check_destination(subscription.url)
        response = http.request(
            "POST",
            subscription.url,
            data=delivery.payload.encode(),
            headers=headers,
            timeout=(3.05, settings.WEBHOOK_TIMEOUT_SECONDS),
            retries=0,
            connect_to=address,  # the address just checked: no second look-up
        )
        status_code, excerpt = response.status_code, response.text[:EXCERPT]
        if 300 <= status_code < 400:
            error = f"redirected ({status_code}); answer 2xx at the URL itself"
        elif not 200 <= status_code < 300:
            error = f"answered {status_code}; a 2xx is expected"
    except UnsafeDestination as exc:
        error = f"refused: {exc}"
    except http.HttpError as exc:
        status_code = exc.status
        excerpt = exc.response.text[:EXCERPT] if exc.response is not None else ""
        error = str(exc)
    latency = round((time.monotonic() - started) * 1000)
    WebhookAttempt.objects.create(
        delivery=delivery,
        status_code=status_code,
        latency_ms=latency,
        response_excerpt=excerpt,
        error=error[:500],
    )
    _record(delivery, timezone.now(), status_code, error)
    return delivery


def _record(
    delivery: WebhookDelivery, now: dt.datetime, status_code: int | None, error: str
) -> None:
    """Write the attempt's outcome on the delivery and on its subscription."""
    subscription = delivery.subscription
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status_code
    delivery.last_error = error
    if not error:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at, delivery.next_attempt_at = now, None
        WebhookSubscription.objects.filter(pk=subscription.pk).exclude(
            consecutive_failures=0, failing_since__isnull=True
        ).update(consecutive_failures=0, failing_since=None)
    else:
        retry_at = now + dt.timedelta(
            seconds=backoff(
                delivery.attempts,
                base=settings.WEBHOOK_RETRY_BASE_SECONDS,
                cap=settings.WEBHOOK_RETRY_MAX_SECONDS,
                jitter=0.1,
            )
        )
        gone = status_code == 410
        if gone or retry_at > delivery.retry_until:
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
        else:
            delivery.next_attempt_at = retry_at
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            consecutive_failures=F("consecutive_failures") + 1,
            failing_since=Coalesce(F("failing_since"), now),
        )
    delivery.save(
        update_fields=[
            "attempts", "last_attempt_at", "last_status_code", "last_error", "status",
            "delivered_at", "next_attempt_at",
        ]
    )  # fmt: skip
    if delivery.status == WebhookDelivery.Status.PENDING and delivery.next_attempt_at:
        # Rung at its time by this worker (the sweep, once a minute, is the safety net).
        enqueue_at(delivery.next_attempt_at, DELIVER_TASK, delivery.pk)
    if delivery.status == WebhookDelivery.Status.FAILED:
        subscription.refresh_from_db()
        window = dt.timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
        if status_code == 410:
            _disable(subscription, now, "The receiver answered 410 Gone.")
        elif subscription.failing_since and subscription.failing_since <= now - window:
            since = subscription.failing_since.isoformat(timespec="seconds")
            _disable(subscription, now, f"Every attempt has failed since {since}: {error}")


def _disable(subscription: WebhookSubscription, now: dt.datetime, reason: str) -> None:
    """Stop sending to ``subscription`` and tell operations (log and mail to ADMINS)."""
    disabled = WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).update(
        is_active=False, disabled_at=now, disabled_reason=reason[:500]
    )
    if not disabled:
        return
    logger.error("webhook subscription %s (%s) disabled: %s", subscription.pk, subscription, reason)
    mail_admins(
        f"Webhook subscription disabled: {subscription}",
        f"Leadline stopped sending events to {subscription} ({subscription.url}).\n\n"
        f"Why: {reason}\n\nFix the receiver, then enable the subscription again in the admin "
        f"and redeliver the failed deliveries.",
        fail_silently=True,
    )


def webhooks_sweep() -> int:
    """Ring the queue for every delivery due (its scheduled retry, or a lost task); returns
    how many. The delivery task claims each row, so ringing twice sends once."""
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=timezone.now(),
        subscription__is_active=True,
    ).order_by("next_attempt_at")
    ids = list(due.values_list("pk", flat=True)[:1000])
    with transaction.atomic():
        for delivery_id in ids:
            enqueue_on_commit(DELIVER_TASK, delivery_id, task_name=f"webhook-{delivery_id}-sweep")
    return len(ids)


def webhooks_redeliver(*, deliveries: Iterable[WebhookDelivery]) -> int:
    """Send these deliveries again now, with a fresh retry window (an operator's redelivery).

    The body and ``webhook-id`` stay the same, so a receiver that got it already can tell.
    Returns how many were queued (a disabled subscription's wait until it is enabled).
    """
    now = timezone.now()
    ids = [d.pk for d in deliveries]
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk__in=ids).update(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at=now,
            retry_until=now + dt.timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS),
        )
        for delivery_id in ids:
            enqueue_on_commit(DELIVER_TASK, delivery_id, task_name=f"webhook-{delivery_id}-again")
    return len(ids)


def subscription_enable(*, subscription: WebhookSubscription) -> WebhookSubscription:
    """Send to ``subscription`` again, its failure counters reset. It receives the events
    from its ``events_from`` on (the deliveries it missed are redelivered by hand)."""
    WebhookSubscription.objects.filter(pk=subscription.pk, is_active=False).update(
        is_active=True, events_from=events_start()
    )
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        disabled_at=None, disabled_reason="", consecutive_failures=0, failing_since=None
    )
    subscriptions_forget()
    subscription.refresh_from_db()
    return subscription


PING = "webhook.test"


def webhook_ping(*, subscription: WebhookSubscription) -> WebhookDelivery:
    """Send a ``webhook.test`` event to ``subscription`` now, signed like every event, and
    answer how it went (one attempt, never retried). The row and its attempt stay, so the
    ping shows among the subscription's deliveries."""
    now = timezone.now()
    body = json.dumps(
        {
            "type": PING,
            "timestamp": now.isoformat(),
            "data": {"subscription": {"id": subscription.pk, "name": subscription.name}},
        },
        separators=(",", ":"),
    )
    delivery = WebhookDelivery.objects.create(
        subscription=subscription, message_id=f"msg_{uuid.uuid4().hex}", event_type=PING,
        payload=body, next_attempt_at=now, retry_until=now,
    )  # fmt: skip
    if not subscription.is_active:
        delivery.status, delivery.last_error = WebhookDelivery.Status.FAILED, "not active"
        delivery.save(update_fields=["status", "last_error"])
        return delivery
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery
