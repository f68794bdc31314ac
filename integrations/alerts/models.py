"""Agent alerts: each alert about a lead to an agent on one channel, written before it is sent.

The table keeps the name it had when the edges were one app (``integrations_delivery``).
"""

from __future__ import annotations

from django.db import models

from leads.models import Agent, Lead


def channel_choices() -> list[tuple[str, str]]:
    """The registered channels (:data:`integrations.alerts.channels.CHANNELS`), read when
    asked: a new channel needs no migration."""
    from .channels import channel_choices

    return channel_choices()


class AgentAlert(models.Model):
    """One alert about one lead to one agent on one channel: written before the send.

    The row is the truth. A task sends it after commit; a failed attempt that can succeed
    later sets ``next_attempt_at`` (backoff with jitter), which the sweeper honours; a send
    in flight holds the row by pushing ``next_attempt_at`` past its longest duration, so two
    workers never send the same alert. Provider callbacks move ``status`` forward only.
    """

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        OFFERED = "offered", "Offered"
        ESCALATED = "escalated", "Escalated"
        REMINDER = "reminder", "Reminder"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        UNDELIVERED = "undelivered", "Undelivered"
        CANCELED = "canceled", "Not sent: no longer needed"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="agent_alerts")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="agent_alerts")
    channel = models.CharField(max_length=8, choices=channel_choices)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    step = models.PositiveSmallIntegerField(
        default=0, help_text="The lead's escalation step when the alert was made."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    to = models.CharField(max_length=254, blank=True, help_text="The number or address used.")
    body = models.TextField(blank=True, help_text="The text sent (SMS) or the subject (email).")
    provider_id = models.CharField(
        max_length=200, blank=True, help_text="Twilio's message SID or the email's Message-ID."
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=20, blank=True)
    last_error = models.TextField(blank=True)
    fallback_for = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The failed alert on the other channel this one replaces.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="The provider accepted it.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "integrations_delivery"
        ordering = ["-created_at", "-id"]
        verbose_name = "agent alert"
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "agent", "channel", "kind", "step"],
                name="delivery_one_alert_per_lead_agent_channel_kind",
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="queued"),
                name="delivery_due",
            ),
            models.Index(fields=["provider_id"], name="delivery_provider_id"),
            models.Index(fields=["agent", "channel", "-created_at"], name="delivery_agent_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.agent} about lead {self.lead_id}"
