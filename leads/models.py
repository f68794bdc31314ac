"""The domain: teams, agents, territories, the people who write to us and their inquiries."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import ProtectedError
from django.db.models.functions import Concat
from django.urls import reverse

from .normalize import parse_place

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$"
slug_validator = RegexValidator(
    SLUG_PATTERN,
    "Lower-case letters, digits, dots, dashes and underscores, starting and ending with a "
    "letter or digit (it is the first part of an email address).",
)


def make_slug(value: str, limit: int = 50) -> str:
    """``value`` as a slug usable before the ``@`` of an address: ``"Sunshine Realty"`` gives
    ``sunshine-realty``, ``"Jane.Doe@x.com"`` gives ``jane.doe-x.com``; ``""`` when nothing
    is left."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", value.lower())[:limit]
    return slug.strip("._-")


def unique_slug(others: models.QuerySet[Any], base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first that none of ``others`` has."""
    base = base or "team"
    taken = set(others.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base[: 50 - len(str(n)) - 1]}-{n}"
    return slug


class Team(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.CharField(
        max_length=50,
        blank=True,
        validators=[slug_validator],
        help_text="The team's name in addresses: leads emailed to <slug>@ the lead email "
        "domain come to this team. Empty: made from the name.",
    )
    time_zone = models.CharField(max_length=64, default="America/New_York")
    # Where a lead no territory covers goes, by its source: with several teams, every lead
    # source whose leads may come without a team (Realtor.com, Zillow...) needs one.
    default_for_sources = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            "Lead sources whose leads this team takes when no territory covers them, e.g. "
            '["realtor", "zillow", "zillow_rentals"]; ["*"]: every source no other team names.'
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=~models.Q(slug=""), name="team_unique_slug"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.slug:
            self.slug = unique_slug(Team.objects.exclude(pk=self.pk), make_slug(self.name))
        super().save(*args, **kwargs)
        # Every team has a default rule: the catch-all when no other rule matches.
        RoutingRule.objects.get_or_create(
            team=self, is_default=True, defaults={"name": "Team default", "mode": "pool"}
        )

    def clean(self) -> None:
        sources = self.default_for_sources
        if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
            message = 'A list of source keys, e.g. ["realtor"].'
            raise ValidationError({"default_for_sources": message})
        others = Team.objects.exclude(pk=self.pk).values_list("name", "default_for_sources")
        for name, taken in others:
            clash = sorted(set(sources) & set(taken if isinstance(taken, list) else []))
            if clash:
                raise ValidationError(
                    {"default_for_sources": f"{', '.join(clash)}: already {name}'s default."}
                )


class Agent(models.Model):
    """A person who works leads: an agent, or a manager who also sees the whole team."""

    class Role(models.TextChoices):
        AGENT = "agent", "Agent"
        MANAGER = "manager", "Manager"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="agents")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField(max_length=120)
    email = models.EmailField()
    mobile_phone = models.CharField(
        max_length=20, blank=True, help_text="E.164, for example +13055550123."
    )
    is_active = models.BooleanField(default=True)
    is_paused = models.BooleanField(default=False, help_text="On vacation: receives no leads.")
    time_zone = models.CharField(max_length=64, default="America/New_York")
    working_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'Per weekday, [start, end] times in the agent\'s time zone, e.g. {"mon": [["09:00", '
            '"18:00"]], "sat": [["10:00", "14:00"]]}; a day not listed is off. Empty: always on.'
        ),
    )
    daily_capacity = models.PositiveIntegerField(
        default=0, help_text="Most new leads a day; 0 means no limit."
    )
    calendar_token = models.CharField(
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text="The secret in the agent's calendar feed's address; empty: no feed.",
    )
    slug = models.CharField(
        max_length=50,
        blank=True,
        validators=[slug_validator],
        help_text="The agent's name in addresses: leads emailed to <team slug>+<slug>@ the "
        "lead email domain are pinned to this agent. Empty: made from the username.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "slug"], condition=~models.Q(slug=""), name="agent_unique_slug"
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.slug:
            others = Agent.objects.filter(team_id=self.team_id).exclude(pk=self.pk)
            self.slug = unique_slug(others, make_slug(self.user.username) or "agent")
        super().save(*args, **kwargs)

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER


class Territory(models.Model):
    """An area a team covers, matched on ZIP, city, county or state; the agents who cover it."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="territories")
    name = models.CharField(max_length=120)
    zip_codes = models.JSONField(default=list, blank=True, help_text="Five-digit ZIP codes.")
    cities = models.JSONField(default=list, blank=True, help_text='"City, ST" entries.')
    counties = models.JSONField(default=list, blank=True, help_text='"County, ST" entries.')
    states = models.JSONField(default=list, blank=True, help_text="Two-letter state codes.")
    priority = models.IntegerField(default=0, help_text="Higher wins among equal matches.")
    agents = models.ManyToManyField(Agent, blank=True, related_name="territories")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "-priority", "name"]
        verbose_name_plural = "territories"
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="territory_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.team})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, keep the area index in step, and give a new territory its routing rule."""
        created = self._state.adding
        super().save(*args, **kwargs)
        self.sync_areas()
        if created and not self.rules.exists():
            RoutingRule.objects.create(
                team=self.team, name=self.name, territory=self, use_territory_agents=True,
                mode=RoutingRule.Mode.ROUND_ROBIN,
            )  # fmt: skip

    def area_keys(self) -> set[tuple[str, str]]:
        """The (kind, value) pairs the territory's lists stand for, normalised."""
        keys = {("zip", z.strip()) for z in self.zip_codes or [] if z.strip()}
        keys |= {("state", s.strip().lower()) for s in self.states or [] if s.strip()}
        keys |= {("city", k) for k in map(parse_place, self.cities or []) if k}
        keys |= {("county", k) for k in map(parse_place, self.counties or []) if k}
        return keys

    def sync_areas(self) -> None:
        wanted = self.area_keys()
        have = {(a.kind, a.value): a.pk for a in self.areas.all()}
        stale = [pk for key, pk in have.items() if key not in wanted]
        if stale:
            TerritoryArea.objects.filter(pk__in=stale).delete()
        TerritoryArea.objects.bulk_create(
            [TerritoryArea(territory=self, kind=k, value=v) for k, v in wanted - set(have)]
        )


class Fold(models.Func):
    """``leadline_fold(text)``: a text as search matches it, accents off and lower case
    (:func:`leads.normalize.fold`; a migration creates it on PostgreSQL, ``leads.apps``
    registers it on each SQLite connection)."""

    function = "leadline_fold"
    output_field = models.CharField()


class Contact(models.Model):
    """A person: every lead from the same email or phone belongs to one contact."""

    class MarketingStatus(models.TextChoices):
        UNKNOWN = "unknown", "Not synced"
        SUBSCRIBED = "subscribed", "Subscribed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        CLEANED = "cleaned", "Cleaned (bounced)"
        PENDING = "pending", "Pending confirmation"
        TRANSACTIONAL = "transactional", "Transactional only"

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True, help_text="Primary email, normalised.")
    phone = models.CharField(max_length=20, blank=True, help_text="Primary phone, E.164.")
    marketing_status = models.CharField(
        max_length=16, choices=MarketingStatus.choices, default=MarketingStatus.UNKNOWN
    )
    # Written by the database on every insert and update, however the names change (an
    # admin edit, a sync's bulk update, a COPY): search reads it through a trigram index on
    # PostgreSQL, with no function to run per row.
    search_name = models.GeneratedField(
        expression=Fold(Concat("first_name", models.Value(" "), "last_name")),
        output_field=models.CharField(max_length=201),
        db_persist=True,
        help_text="First and last name as search matches them: no accents, lower case.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["last_name", "first_name"])]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone or f"Contact {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactEmail(models.Model):
    """An email address a contact is known by; unique, so one address names one person."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.email


class ContactPhone(models.Model):
    """A phone number (E.164) a contact is known by; unique, so one number names one person."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phones")
    phone = models.CharField(max_length=20, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.phone


TAG_MAX_LENGTH = 50


class ContactTag(models.Model):
    """A word a team puts on a person ("past client", "investor"); the API and the marketing
    platform read them. One row per person and tag."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=TAG_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "name"], name="contacttag_unique")
        ]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name


class Consent(models.Model):
    """What a person agreed to, on which channel, with the exact words they were shown."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        CALL = "call", "Phone call"
        MARKETING_EMAIL = "marketing_email", "Marketing email"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    lead = models.ForeignKey(
        "Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="consents"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    granted = models.BooleanField()
    text = models.TextField(help_text="The exact text the person was shown.")
    origin = models.CharField(max_length=120, help_text="Where it was given: source and form.")
    evidence = models.JSONField(
        default=dict, blank=True, help_text="IP address, user agent, third-party consent ids."
    )
    obtained_at = models.DateTimeField()

    class Meta:
        ordering = ["-obtained_at"]

    def __str__(self) -> str:
        verb = "granted" if self.granted else "refused"
        return f"{self.get_channel_display()} {verb} ({self.origin})"


# The inbox's order (leads.selectors.lead_list): new and offered leads, then accepted ones,
# then the rest. Shared with the index that serves that order.
INBOX_GROUP = models.Case(
    models.When(status="new", then=models.Value(0)),
    models.When(status="accepted", then=models.Value(1)),
    default=models.Value(2),
    output_field=models.IntegerField(),
)


SHORT_CODE_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def short_code(number: int) -> str:
    """``number`` in base 36, upper case."""
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = SHORT_CODE_DIGITS[rest] + digits
        if not number:
            return digits


def from_short_code(code: str) -> int | None:
    """The number a short code stands for, or None if it is not one (at most 10 digits)."""
    code = code.strip().upper()
    if not code or len(code) > 10 or any(c not in SHORT_CODE_DIGITS for c in code):
        return None
    return int(code, 36)


class Lead(models.Model):
    """One inquiry from one person; a repeat inquiry is a new lead on the same contact."""

    class Type(models.TextChoices):
        BUYER = "buyer", "Buyer"
        SELLER = "seller", "Seller"
        RENTER = "renter", "Renter"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        NEW = "new", "New"
        ACCEPTED = "accepted", "Accepted"
        CONTACTED = "contacted", "Contacted"
        QUALIFIED = "qualified", "Qualified"
        APPOINTMENT = "appointment", "Appointment set"
        UNDER_CONTRACT = "under_contract", "Under contract"
        CLOSED_WON = "closed_won", "Closed (won)"
        CLOSED_LOST = "closed_lost", "Closed (lost)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="leads")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
    source = models.CharField(max_length=32, help_text="The lead source, e.g. webform, zillow.")
    source_detail = models.CharField(
        max_length=200, blank=True, help_text="Which form, page or feed within the source."
    )
    external_id = models.CharField(
        max_length=200, help_text="The source's own id for this inquiry (idempotency key)."
    )
    raw_event_id = models.BigIntegerField(
        null=True, blank=True, help_text="The inbound event this lead was parsed from."
    )
    is_test = models.BooleanField(default=False, help_text="A test lead: never routed.")
    lead_type = models.CharField(max_length=16, choices=Type.choices, default=Type.BUYER)
    message = models.TextField(blank=True)
    property_address = models.CharField(max_length=255, blank=True)
    property_city = models.CharField(max_length=100, blank=True)
    property_state = models.CharField(max_length=2, blank=True)
    property_zip = models.CharField(max_length=10, blank=True)
    mls_number = models.CharField(max_length=50, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    utm_source = models.CharField(max_length=255, blank=True)
    utm_medium = models.CharField(max_length=255, blank=True)
    utm_campaign = models.CharField(max_length=255, blank=True)
    utm_term = models.CharField(max_length=255, blank=True)
    utm_content = models.CharField(max_length=255, blank=True)
    gclid = models.CharField(max_length=255, blank=True)
    fbclid = models.CharField(max_length=255, blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    referrer = models.URLField(max_length=2000, blank=True)
    extra = models.JSONField(
        default=dict, blank=True, help_text="Source-specific facts kept as the source gave them."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    assigned_agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    pinned_agent = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The agent the source itself chose (e.g. Zillow's assignee); routed first.",
    )
    routing_rule = models.ForeignKey(
        "RoutingRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sla_due_at = models.DateTimeField(
        null=True, blank=True, help_text="Accept by then, or the lead moves on."
    )
    escalation_step = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(help_text="When the source's request reached us.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    first_contact_at = models.DateTimeField(null=True, blank=True)
    alert_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When a provider first accepted an alert about it."
    )
    alert_delivered_at = models.DateTimeField(
        null=True, blank=True, help_text="When an alert about it first reached a phone."
    )

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="lead_unique_source_external_id"
            )
        ]
        indexes = [
            models.Index(fields=["assigned_agent", "status", "-received_at"]),
            models.Index(fields=["team", "status", "-received_at"]),
            models.Index(fields=["-received_at"]),
            models.Index(
                fields=["sla_due_at"],
                condition=models.Q(sla_due_at__isnull=False),
                name="lead_sla_due",
            ),
            # The agent's app (leads/selectors.py): a team's and an agent's inbox in its own
            # order (PostgreSQL sorts NULLs last in ascending order, as the inbox asks; SQLite
            # allows no NULLS LAST in an index), the pool, the dashboard's period, the source
            # filter's options.
            models.Index(
                models.F("team"),
                INBOX_GROUP,
                models.F("sla_due_at").asc(),
                models.F("updated_at").desc(),
                models.F("id").desc(),
                name="lead_team_inbox",
                condition=models.Q(is_test=False),
            ),
            models.Index(
                models.F("assigned_agent"),
                INBOX_GROUP,
                models.F("sla_due_at").asc(),
                models.F("updated_at").desc(),
                models.F("id").desc(),
                name="lead_agent_inbox",
                condition=models.Q(is_test=False),
            ),
            models.Index(
                fields=["team", "received_at", "id"],
                condition=models.Q(assigned_agent__isnull=True),
                name="lead_team_pool",
            ),
            models.Index(fields=["team", "received_at"], name="lead_team_received"),
            models.Index(fields=["team", "source"], name="lead_team_source"),
        ]

    def __str__(self) -> str:
        return f"{self.get_lead_type_display()} lead from {self.contact} via {self.source}"

    def get_absolute_url(self) -> str:
        return reverse("leads:lead", args=[self.pk])

    @property
    def short_code(self) -> str:
        """The lead's number in base 36, upper case: its short link and the code an agent
        texts back to claim it (``4F7``)."""
        return short_code(self.pk)

    def get_short_url(self) -> str:
        return reverse("leads:short", args=[self.short_code])


class Activity(models.Model):
    """The timeline: every change to a lead or contact, who made it and why."""

    class Kind(models.TextChoices):
        RECEIVED = "received", "Lead received"
        REPEAT_INQUIRY = "repeat_inquiry", "Repeat inquiry"
        ASSIGNED = "assigned", "Assigned"
        UNASSIGNED = "unassigned", "Left in the pool"
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted"
        CLAIMED = "claimed", "Claimed"
        ESCALATED = "escalated", "Escalated"
        CONTACTED = "contacted", "Contact logged"
        CALL_ATTEMPT = "call_attempt", "Call, not reached"
        STATUS_CHANGED = "status_changed", "Status changed"
        NOTE = "note", "Note"
        TASK_SET = "task_set", "Follow-up set"
        TASK_DONE = "task_done", "Follow-up done"
        CONSENT = "consent", "Consent recorded"
        CONTACT_UPDATED = "contact_updated", "Contact updated"
        SOURCE_UPDATE = "source_update", "Updated by the source"
        SOURCE_EVENT = "source_event", "Activity at a source"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="activities")
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who did it; empty when the system did.",
    )
    summary = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["lead", "-created_at"])]

    def __str__(self) -> str:
        return self.summary


class Task(models.Model):
    """A follow-up an agent means to do about a lead at a set time: a call, a text, an email,
    or a showing (an appointment with a place). Open until done or canceled; reminded once,
    through the agent's alert channels, when it falls due."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        TEXT = "text", "Text"
        EMAIL = "email", "Email"
        SHOWING = "showing", "Showing"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELED = "canceled", "Canceled"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks")
    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, related_name="tasks", help_text="Who does it."
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CALL)
    due_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="How long it holds in the calendar (a showing: an hour)."
    )
    location = models.CharField(max_length=255, blank=True, help_text="A showing's address.")
    note = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    done_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(
        null=True, blank=True, help_text="When its reminder was made (once, when due)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # Today: an agent's open follow-ups by due time; the calendar feed.
            models.Index(
                fields=["agent", "due_at"],
                condition=models.Q(status="open"),
                name="task_agent_open",
            ),
            models.Index(fields=["agent", "-due_at"], name="task_agent_due"),
            # The reminders' sweep: open, due, not reminded yet.
            models.Index(
                fields=["due_at"],
                condition=models.Q(status="open", reminded_at__isnull=True),
                name="task_to_remind",
            ),
            models.Index(fields=["lead", "due_at"], name="task_lead_due"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} about lead {self.lead_id} at {self.due_at:%Y-%m-%d %H:%M}"
        )

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class TerritoryArea(models.Model):
    """One place a territory covers, indexed for lookup; derived from the territory's lists.

    Kept in step by ``Territory.save()``: never edit these rows by hand.
    """

    class Kind(models.TextChoices):
        ZIP = "zip", "ZIP code"
        CITY = "city", "City"
        COUNTY = "county", "County"
        STATE = "state", "State"

    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="areas")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=160, help_text="Normalised: 33139, miami beach|fl, fl.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["territory", "kind", "value"], name="area_unique")
        ]
        indexes = [models.Index(fields=["kind", "value"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"


class Listing(models.Model):
    """A listing of one of our agents: a lead about it goes to that agent first."""

    mls_number = models.CharField(max_length=50, unique=True)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="listings")
    address = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["mls_number"]

    def __str__(self) -> str:
        return f"MLS {self.mls_number} ({self.agent})"


# The acceptance deadline of a lead placed without a rule (the listing agent, a reassignment).
DEFAULT_SLA_MINUTES = 5


class RoutingRule(models.Model):
    """Which leads a rule takes (its conditions), to whom (its agents) and how (its mode).

    The most specific matching rule wins: a territory matched by ZIP before one matched by
    city, county or state, then rules without a territory, then the team's default rule;
    ties go to the higher ``priority``.
    """

    class Mode(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Round robin"
        WEIGHTED = "weighted", "Weighted shares"
        LEAST_LOADED = "least_loaded", "Least loaded"
        FIRST_TO_CLAIM = "first_to_claim", "First to claim"
        POOL = "pool", "Team pool"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="routing_rules")
    name = models.CharField(max_length=120)
    is_default = models.BooleanField(
        default=False, editable=False, help_text="The team's catch-all rule; cannot be deleted."
    )
    is_active = models.BooleanField(default=True)
    priority = models.IntegerField(default=0, help_text="Higher wins among equally specific rules.")
    territory = models.ForeignKey(
        Territory, null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    sources = models.JSONField(default=list, blank=True, help_text="Lead sources; empty: any.")
    lead_types = models.JSONField(default=list, blank=True, help_text="Lead types; empty: any.")
    price_min = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    price_max = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    requires_phone = models.BooleanField(default=False, help_text="Only leads with a phone.")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.ROUND_ROBIN)
    use_territory_agents = models.BooleanField(
        default=False, help_text="Route among the territory's agents instead of the listed ones."
    )
    sla_minutes = models.PositiveIntegerField(
        default=5, help_text="Minutes to accept before the lead is offered to the next agent."
    )
    rotation_key = models.BigIntegerField(
        default=0, editable=False, help_text="Round robin: the place of the last agent picked."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "is_default", "-priority", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team"], condition=models.Q(is_default=True), name="one_default_rule"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.team})"

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self.is_default:
            raise ProtectedError("The team's default rule cannot be deleted.", {self})
        return super().delete(*args, **kwargs)


class RuleMember(models.Model):
    """An agent in a rule: ``step`` 0 is the first group, 1 to 3 the fallback chain."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="members")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="rule_memberships")
    step = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(3)], help_text="0: first; 1-3: fallback steps."
    )
    position = models.PositiveIntegerField(default=0)
    weight = models.PositiveIntegerField(default=1, help_text="Share, for weighted rules.")
    credit = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["rule", "step", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "agent", "step"], name="member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.agent} in {self.rule.name}"


class RoutingDecision(models.Model):
    """Why a lead went where it went: the rules that matched, who was skipped and why."""

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial routing"
        ESCALATION = "escalation", "Escalation"
        CLAIM = "claim", "Claimed"
        MANUAL = "manual", "Manual"

    lead = models.ForeignKey("Lead", on_delete=models.CASCADE, related_name="routing_decisions")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INITIAL)
    rule = models.ForeignKey(RoutingRule, null=True, blank=True, on_delete=models.SET_NULL)
    mode = models.CharField(max_length=16, blank=True)
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    offered_to = models.JSONField(default=list, blank=True, help_text="First to claim: agent ids.")
    matched = models.JSONField(default=list, blank=True)
    skipped = models.JSONField(default=list, blank=True)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.reason[:80]


class LeadOffer(models.Model):
    """A lead offered to an agent: first to claim, or an escalation waiting for acceptance."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Claimed"
        LOST = "lost", "Claimed by someone else"
        EXPIRED = "expired", "Expired"

    lead = models.ForeignKey("Lead", on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="offers")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    offered_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-offered_at"]
        constraints = [models.UniqueConstraint(fields=["lead", "agent"], name="offer_unique")]

    def __str__(self) -> str:
        return f"{self.lead_id} offered to {self.agent}"


API_TOKEN_PREFIX = "lla_"  # noqa: S105 - what every token starts with, not a secret


class ApiToken(models.Model):
    """A person's key to the REST API, named by them; revocable at any time.

    Only the SHA-256 of the token is stored: the token itself is shown once, when it is made.
    Its first characters (``prefix``) are kept so a person can tell their tokens apart.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What it is for, e.g. 'Accounting sync'.")
    prefix = models.CharField(
        max_length=16, editable=False, help_text="The token's first characters."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


INTEGRATION_KEY_PREFIX = "lli_"  # what every integration key starts with


class Integration(models.Model):
    """A system that uses the API on its own account: an IDX website, an open-house app, a
    lender partner. It has its own key, works for one team, gives the leads it sends its own
    ``source`` (which routing rules can match), and may do only what its ``scopes`` allow.
    No person is behind it: it is nobody's agent and sees nobody's inbox.

    Only the SHA-256 of the key is stored, like a personal token's; the key is shown once.
    """

    class Scope(models.TextChoices):
        LEADS_READ = "leads:read", "Read the team's leads, people and agents"
        PEOPLE_WRITE = "people:write", "Add, change and delete people"
        EVENTS_WRITE = "events:write", "Send events (inquiries, registrations, activity)"
        WEBHOOKS_MANAGE = "webhooks:manage", "Manage the team's webhook subscriptions"

    name = models.CharField(max_length=100, help_text="What it is, e.g. 'IDX website'.")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="integrations")
    source = models.SlugField(
        max_length=32,
        unique=True,
        help_text="The source its leads carry, e.g. idx-website; routing rules can name it.",
    )
    scopes = models.JSONField(default=list, blank=True, help_text="What the key may do.")
    rate_limit = models.CharField(
        max_length=20,
        blank=True,
        help_text="Requests allowed, e.g. 1200/min; empty: the site's API_RATE_LIMIT.",
    )
    prefix = models.CharField(
        max_length=16, editable=False, help_text="The key's first characters."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.source})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return self.is_active and scope in self.scopes


class IntegrationUser:
    """Who ``request.user`` is when an integration's key signed the request: authenticated,
    with its integration, and no person (``pk`` None, no agent profile)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.username = f"integration:{integration.source}"

    def __str__(self) -> str:
        return str(self.integration)

    @property
    def is_active(self) -> bool:
        return self.integration.is_active

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False


CACHE_TABLE = "leadline_cache"


class CacheEntry(models.Model):
    """A row of Django's database cache: ``CACHES["throttle"]`` without Redis, where the
    sign-in counters are kept so that every web worker counts the same failures.

    A model only so that ``migrate`` makes the table (with the columns ``createcachetable``
    would) and a test database flush empties it; Django's ``DatabaseCache`` reads and writes
    it in SQL of its own, and nothing else touches it.
    """

    cache_key = models.CharField(max_length=255, primary_key=True)
    value = models.TextField()
    expires = models.DateTimeField(db_index=True)

    class Meta:
        db_table = CACHE_TABLE
        verbose_name = "cache entry"
        verbose_name_plural = "cache entries"

    def __str__(self) -> str:
        return self.cache_key


class RateCounter(models.Model):
    """Requests counted for one key in one window of the API's rate limit, without Redis
    (:mod:`leads.ratelimit`): one row per key and window, added to in one statement. Rows
    of windows past are deleted every hour."""

    key = models.CharField(max_length=200, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class PersonMerge(models.Model):
    """Two people found to be one, merged by a manager: ``merged_id`` (gone) into
    ``survivor``. ``record`` keeps what the merge moved and changed, row by row, so that
    :func:`leads.duplicates.people_unmerge` puts every row back within a day."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    survivor = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges")
    merged_id = models.BigIntegerField(help_text="The id the merged person had.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    record = models.JSONField(default=dict, help_text="What moved and changed, to undo it.")
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Person {self.merged_id} merged into {self.survivor_id}"
