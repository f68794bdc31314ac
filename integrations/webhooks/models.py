"""Outbound webhooks: who receives our events, and every delivery and attempt to them.

The tables keep the names they had when the edges were one app (``integrations_*``).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from leads.models import Team


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def events_start() -> dt.datetime:
    """When a subscription made or enabled now starts receiving events."""
    return timezone.now() + dt.timedelta(seconds=settings.WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS)


class WebhookSubscription(models.Model):
    """A receiver of our events: where to send them, which ones, and the key to sign them.

    The secret is shown once, when the subscription is made. A subscription that has failed
    for the whole retry window (``WEBHOOK_RETRY_WINDOW_SECONDS``), or whose receiver answers
    410 Gone, is disabled and operations are told; enabling it again resets its counters.

    ``events_from``: it receives the events of changes made from then on, set when it is made
    or enabled again to ``WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS`` later. Every process knows of
    it by then (each keeps "there are no subscriptions" that long), so no process skips an
    event another one sends.
    """

    class Event(models.TextChoices):
        LEAD_CREATED = "lead.created", "lead.created: a lead was received"
        LEAD_ASSIGNED = "lead.assigned", "lead.assigned: a lead was given to an agent"
        LEAD_ACCEPTED = "lead.accepted", "lead.accepted: the agent accepted it"
        LEAD_STATUS_CHANGED = "lead.status_changed", "lead.status_changed: its status moved"
        CONTACT_UPDATED = "contact.updated", "contact.updated: a person's details changed"
        CONSENT_CHANGED = "consent.changed", "consent.changed: a person gave or withdrew consent"
        MESSAGE_RECEIVED = "message.received", "message.received: a person texted the team"
        MESSAGE_SENT = "message.sent", "message.sent: a text or reply to a person was sent"
        LEAD_DELETED = "lead.deleted", "lead.deleted: a lead was deleted"
        PERSON_CREATED = "person.created", "person.created: a new person"
        PERSON_UPDATED = "person.updated", "person.updated: a person's details changed"
        PERSON_MERGED = "person.merged", "person.merged: two people were merged into one"
        NOTE_CREATED = "note.created", "note.created: a note on a lead"
        CALL_LOGGED = "call.logged", "call.logged: a call to the person was logged"
        TASK_CREATED = "task.created", "task.created: a follow-up was set on a lead"
        TASK_COMPLETED = "task.completed", "task.completed: a follow-up was done or canceled"

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=2000, help_text="Where events are POSTed (https).")
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        help_text="Only this team's events; empty: every team's.",
    )
    events = models.JSONField(default=list, blank=True, help_text="Empty: every event.")
    secret = models.CharField(max_length=100, default=new_webhook_secret, editable=False)
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)
    events_from = models.DateTimeField(
        "events from",
        null=True,
        blank=True,
        editable=False,
        help_text="It receives the events of changes made from then on.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "integrations_webhooksubscription"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A subscription made, or made active again, receives events from ``events_from``."""
        starting = self.is_active and (
            self._state.adding or not type(self).objects.filter(pk=self.pk, is_active=True).exists()
        )
        if starting:
            self.events_from = events_start()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "events_from"}
        super().save(*args, **kwargs)

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


class WebhookDelivery(models.Model):
    """One event for one subscription: the row is the truth, the queue only rings for it.

    ``payload`` is the body exactly as signed and sent, the same on every attempt, and
    ``message_id`` its ``webhook-id`` (the receiver's idempotency key). A failed attempt
    schedules the next one (``next_attempt_at``, exponential backoff), which the sweeper
    honours, until ``retry_until``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.CharField(max_length=64, help_text="The webhook-id header.")
    event_type = models.CharField(max_length=40)
    payload = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    retry_until = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "integrations_webhookdelivery"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "message_id"], name="webhookdelivery_unique_message"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhookdelivery_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.subscription} ({self.status})"


class WebhookAttempt(models.Model):
    """One try at a delivery: what the receiver answered, and how fast."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, help_text="The first 500 characters.")
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "integrations_webhookattempt"
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error}"
