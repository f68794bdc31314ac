"""Agent alerts: each alert about a lead to an agent on one channel, written before it is sent.

The table keeps the name it had when the edges were one app (``integrations_delivery``).
"""

from __future__ import annotations

from typing import Any

from django.db import models

from leads.extensions import AgentRead
from leads.models import Agent, Lead, Task


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
        FOLLOW_UP = "follow_up", "Follow-up due"
        REPLIED = "replied", "The person replied"
        REPEAT = "repeat", "Wrote again"

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
    task = models.ForeignKey(
        Task,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The follow-up a follow-up alert is about.",
    )
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
                condition=models.Q(task__isnull=True) & ~models.Q(kind="replied"),
                name="delivery_one_alert_per_lead_agent_channel_kind",
            ),
            # A follow-up is reminded once per channel (a lead may have many follow-ups).
            models.UniqueConstraint(
                fields=["task", "channel"],
                condition=models.Q(task__isnull=False),
                name="alert_one_per_follow_up_channel",
            ),
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


class AlertSettings(models.Model):
    """How an agent wants to be alerted (the agent's own, on the settings page), and what the
    channels learned about reaching them (shown to operations in the admin).

    An agent without a row has the defaults: every channel on, no quiet hours, a link only.
    """

    agent = models.OneToOneField(
        Agent, on_delete=models.CASCADE, primary_key=True, related_name="alert_settings"
    )
    sms_enabled = models.BooleanField("SMS alerts", default=True)
    email_enabled = models.BooleanField("Email alerts", default=True)
    quiet_hours_start = models.TimeField(
        null=True,
        blank=True,
        help_text="From this time (the agent's time zone) alerts come by email only, and SMS "
        "waits until the quiet hours end unless the lead is hot.",
    )
    quiet_hours_end = models.TimeField(null=True, blank=True)
    include_contact_details = models.BooleanField(
        "Lead's phone and email in SMS alerts",
        default=False,
        help_text="Off: the text carries a link only, so the person's details stay in the app.",
    )
    # Set by the channels: why alerts to a channel cannot reach the agent.
    sms_opted_out_at = models.DateTimeField(
        null=True, blank=True, help_text="The agent texted STOP: SMS alerts wait for START."
    )
    phone_problem = models.CharField(
        max_length=300, blank=True, help_text="The SMS provider refused this phone; fix it."
    )
    email_problem = models.CharField(
        max_length=300, blank=True, help_text="The mail server refused this address; fix it."
    )

    class Meta:
        verbose_name = "alert settings"
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return f"Alert settings of {self.agent}"

    @property
    def problems(self) -> list[str]:
        """Why alerts cannot reach the agent, in words; empty when they can."""
        found = [self.phone_problem, self.email_problem]
        if self.sms_opted_out_at:
            found.append("texted STOP")
        return [problem for problem in found if problem]


# What the agent sets on the settings page, in its order.
PREFERENCES = (
    "sms_enabled",
    "email_enabled",
    "quiet_hours_start",
    "quiet_hours_end",
    "include_contact_details",
)


# Routing loads the agents' alert settings with the agents it picks (``leads.extensions``):
# the alert about the lead reads them with no query of its own.
AGENT_READ = AgentRead(
    "alert_settings",
    tuple(f.name for f in AlertSettings._meta.concrete_fields if not f.primary_key),
)


def alert_settings_for(agent: Agent) -> AlertSettings:
    """The agent's alert settings: their row, or the defaults (not saved) when they have none."""
    try:
        return agent.alert_settings
    except AlertSettings.DoesNotExist:
        return AlertSettings(agent=agent)


class SendingFault(models.Model):
    """A fault of our own that stops a channel sending to anyone: credentials, a sender not
    registered for A2P 10DLC (Twilio 30034), a filtered sender (30007). One row per channel
    and provider code while it lasts: operations are mailed when it appears, it is shown on
    ``/healthz`` and in the admin, and it is cleared by the channel's next successful send.
    Agent alerts and conversations with leads both report here."""

    channel = models.CharField(max_length=8)
    code = models.CharField(max_length=20)
    message = models.CharField(max_length=500)
    where = models.CharField(max_length=60, help_text="What was being sent: alerts, messages.")
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    mailed_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(
        null=True, blank=True, help_text="A later send succeeded: the fault is gone."
    )

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "code"],
                condition=models.Q(cleared_at__isnull=True),
                name="sendingfault_one_open_per_code",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.code}: {self.message}"


class PushSubscription(models.Model):
    """One device (a browser on a phone or a computer) on which an agent turned on
    notifications: where its push service takes pushes for it, and the keys to encrypt
    them with (RFC 8291). Removed by the agent, or when the push service says it is gone."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=120, help_text="The device's public key, base64url.")
    auth = models.CharField(max_length=60, help_text="The device's auth secret, base64url.")
    device = models.CharField(max_length=200, blank=True, help_text="The browser and system.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "push device"

    def __str__(self) -> str:
        return f"{self.device or 'A browser'} of {self.agent}"

    @property
    def subscription_info(self) -> dict[str, Any]:
        """The subscription as the browser gave it (``PushSubscription.toJSON()``)."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}
