"""What came in from a lead source, and its fate; the web forms and Facebook pages it comes
through. The tables keep the names they had when the edges were one app (``integrations_*``).
"""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.urls import reverse

from leads.models import Agent, Lead, Team


class InboundEvent(models.Model):
    """One request from a lead source, stored raw before anything is parsed.

    The row is the truth and its own place in the queue: a queue worker claims it
    (``claimed_until``, a lease) and turns it into a lead, and the sweeper processes any event
    still ``received`` past its deadline, so a killed worker or a stopped claimer loses nothing.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.CharField(max_length=32, db_index=True)
    external_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="The sender's own id for this delivery; unique per source when present.",
    )
    body = models.BinaryField(help_text="The request body exactly as it arrived.")
    content_type = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="The headers that matter.")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    meta = models.JSONField(
        default=dict, blank=True, help_text="What the receiving view knew: form, page, token."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Not before then: the source asked to wait (a throttled API, a page to "
        "re-authorise). Empty: the sweeper's usual deadline.",
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="A worker holds the event until then (its lease; after a failed attempt, "
        "the wait before the next). Empty: any worker may take it when it is due.",
    )

    class Meta:
        db_table = "integrations_inboundevent"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~models.Q(external_id=""),
                name="inboundevent_unique_source_external_id",
            )
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=models.Q(status="received"),
                name="inboundevent_pending",
            ),
            models.Index(fields=["source", "status", "-received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.source} event {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("admin:intake_inboundevent_change", args=[self.pk])

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")


class LeadSource(InboundEvent):
    """The admin's "Lead sources" page: each source's health, read from its events."""

    class Meta:
        proxy = True
        verbose_name = "lead source"
        verbose_name_plural = "lead sources: health"


def new_public_key() -> str:
    return secrets.token_urlsafe(12)


class WebForm(models.Model):
    """A lead form the team hosts at ``/forms/<public_key>/`` or embeds on its own site."""

    public_key = models.CharField(max_length=32, unique=True, default=new_public_key)
    name = models.CharField(max_length=120)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="web_forms")
    title = models.CharField(max_length=200, default="Tell us what you are looking for")
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text="Sites that may embed the form or post to it, e.g. https://www.example.com.",
    )
    return_url = models.URLField(
        blank=True, help_text="Where a browser goes after submitting; empty shows a thank-you page."
    )
    consent_text = models.TextField(
        default=(
            "I agree to be contacted by phone, text message and email about my inquiry, "
            "including by automated means. Consent is not a condition of purchase."
        ),
        help_text="Shown beside the consent checkbox and stored, word for word, with each lead.",
    )
    consent_required = models.BooleanField(default=True)
    marketing_consent_text = models.TextField(
        blank=True,
        help_text="Optional second checkbox for marketing email; empty hides it.",
    )
    default_lead_type = models.CharField(
        max_length=16, choices=Lead.Type.choices, default=Lead.Type.BUYER
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "integrations_webform"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("intake:webform", args=[self.public_key])


class FacebookPage(models.Model):
    """A Facebook Page whose Lead Ads come to us, with the token that reads its leads.

    The Page access token is stored encrypted (:mod:`integrations.lib.encryption`) and never
    shown again once saved. A token Facebook rejects (Graph errors 190/102) moves the page to
    ``needs_reauth``: its leads wait, as events, until a new token is saved.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"

    page_id = models.CharField("Page id", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="facebook_pages")
    access_token_encrypted = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=500, blank=True, editable=False)
    field_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per form, custom question key to lead field, e.g. {"<form id>": '
        '{"when_are_you_buying?": "message", "zip_(5_digits)": "property_zip"}}; '
        'use "*" for every form.',
    )
    forms = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="What we read of each lead form: its name and consent checkbox wording.",
    )
    last_backfill_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_lead_time = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="The newest lead creation time seen by the backfill; it asks for later ones.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "integrations_facebookpage"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.page_id})"

    @property
    def has_access_token(self) -> bool:
        return bool(self.access_token_encrypted)

    def access_token(self) -> str:
        """The plain token, for a Graph call only; raises ``DecryptionError`` if unreadable."""
        from integrations.lib.encryption import decrypt

        return decrypt(self.access_token_encrypted) if self.access_token_encrypted else ""

    def set_access_token(self, token: str) -> None:
        from integrations.lib.encryption import encrypt

        self.access_token_encrypted = encrypt(token) if token else ""


class SourceAgentId(models.Model):
    """The id a lead source knows an agent by, so its leads for that agent are pinned to them:
    Zillow's (the identifier entered when linking Leadline in Premier Agent, the
    PartnerAgentIdentifier, or their Zillow agent id); one agent, one id per source."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="source_ids")
    source = models.CharField(max_length=32)
    external_id = models.CharField("identifier", max_length=100)

    class Meta:
        verbose_name = "agent's id at a source"
        verbose_name_plural = "agents' ids at sources"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="sourceagentid_unique_per_source"
            ),
            models.UniqueConstraint(fields=["agent", "source"], name="sourceagentid_one_per_agent"),
        ]

    def __str__(self) -> str:
        return f"{self.agent} at {self.source}: {self.external_id}"
