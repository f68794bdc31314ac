"""Conversations: every text to and from a person, one thread per person (their contact).

A message to the person is a row written before it is sent, like an agent alert: the row is
the truth, a task sends it after the commit, retries wait in ``next_attempt_at`` (which the
sweeper honours), Twilio's status callbacks move it forward. A message from the person is
written when Twilio posts it to ``/hooks/twilio/inbound/`` (after the raw request is kept).
"""

from __future__ import annotations

from django.db import models

from leads.models import Agent, Contact, Lead, Team


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", "From the person"
        OUTBOUND = "out", "To the person"

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        GREETING = "greeting", "Instant reply to a new lead"
        HELP = "help", "Answer to HELP"

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "Email"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Not sent"
        RECEIVED = "received", "Received"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages")
    lead = models.ForeignKey(
        Lead,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
        help_text="The person's lead the message was about (their latest, for a reply).",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MESSAGE)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.SMS)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    author = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The agent who wrote it; empty for the person's and Leadline's own.",
    )
    body = models.TextField(blank=True)
    subject = models.CharField(max_length=200, blank=True, help_text="Email only.")
    media = models.JSONField(
        default=list, blank=True, help_text="MMS: [{url, content_type}], as Twilio gave them."
    )
    to = models.CharField(max_length=254, blank=True)
    sender = models.CharField(max_length=254, blank=True, help_text="Number, service or address.")
    provider_id = models.CharField(max_length=200, blank=True, help_text="Twilio's message SID.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=20, blank=True)
    last_error = models.TextField(blank=True)
    raw_event_id = models.BigIntegerField(null=True, blank=True, help_text="Its InboundEvent.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(
        null=True, blank=True, help_text="From the person: when an agent opened the thread."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=models.Q(kind="greeting"),
                name="message_one_greeting_per_lead",
            )
        ]
        indexes = [
            models.Index(fields=["contact", "created_at"], name="message_thread"),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="queued"),
                name="message_due",
            ),
            models.Index(fields=["provider_id"], name="message_provider_id"),
            models.Index(
                fields=["contact"],
                condition=models.Q(direction="in", read_at__isnull=True),
                name="message_unread",
            ),
        ]

    def __str__(self) -> str:
        arrow = "from" if self.direction == self.Direction.INBOUND else "to"
        return f"{self.get_channel_display()} {arrow} {self.contact_id}: {self.body[:40]}"

    @property
    def done(self) -> bool:
        return self.status not in (self.Status.QUEUED,)


class TeamMessaging(models.Model):
    """How a team texts its leads: its own sender (a number or a Messaging Service; empty:
    the ``TWILIO_*`` settings'), and what HELP is answered with."""

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, primary_key=True, related_name="messaging"
    )
    from_number = models.CharField(
        max_length=20, blank=True, help_text="The team's Twilio number, E.164 (+13055550100)."
    )
    messaging_service_sid = models.CharField(
        max_length=34,
        blank=True,
        help_text="A Twilio Messaging Service (MG...); wins over the number.",
    )
    help_contact = models.CharField(
        max_length=200,
        blank=True,
        help_text="How a person reaches the team, in the answer to HELP (phone, email).",
    )

    class Meta:
        verbose_name = "team messaging"
        verbose_name_plural = "team messaging"

    def __str__(self) -> str:
        return f"Messaging of {self.team}"


class GreetingTemplate(models.Model):
    """The instant reply to a new lead, per team and per source (empty: any), one per
    channel. The most specific active one is used: team and source, team, source, any.

    Written in Django's template language, with ``first_name``, ``team`` (its name),
    ``agent`` (``agent.name``, ``agent.first_name``, ``agent.phone``; empty until routing
    picks one: an offered or pooled lead), ``place`` (the property or town) and ``source``.
    """

    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="greeting_templates",
        help_text="Empty: every team's.",
    )  # fmt: skip
    source = models.CharField(max_length=32, blank=True, help_text="A lead source; empty: any.")
    channel = models.CharField(
        max_length=8, choices=Message.Channel.choices, default=Message.Channel.SMS
    )
    subject = models.CharField(max_length=200, blank=True, help_text="Email only.")
    body = models.TextField()
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team__name", "source", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "source", "channel"],
                condition=models.Q(is_active=True),
                name="greetingtemplate_one_active",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        who = self.team.name if self.team_id and self.team else "Every team"
        return f"{who}, {self.source or 'any source'}: {self.get_channel_display()}"
