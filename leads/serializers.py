"""The shapes of the REST API: what a lead, a contact or an agent looks like from outside.

Output serializers read the rows the selectors return (their related rows already joined, so
a page costs a fixed number of queries). Input serializers validate a request and hand plain
values to the services; they never save anything themselves.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from .models import Activity, Agent, Consent, Contact, Lead, RoutingRule, RuleMember, Territory
from .normalize import normalize_email, normalize_phone, normalize_zip

MAX_ID = 2**63 - 1  # the largest primary key; larger ids match nothing
WEB_ADDRESS = r"^https?://[^\s/?#]+[^\s]*$"  # kept as given: attribution, not a link we follow


class Text(serializers.CharField):
    """A string, and only a string: DRF's CharField would take 0 or true and make it text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class Flag(serializers.BooleanField):
    """true or false, and only those: DRF's BooleanField would also take 0, "yes" or "on"."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class Whole(serializers.IntegerField):
    """A JSON integer, and only that: DRF's IntegerField would also take "5" or 5.0."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


@extend_schema_field(
    {"type": "string", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$", "example": "875000.00"}
)
class Money(serializers.DecimalField):
    """An amount in dollars as a string ("875000.00"), exact: never a float."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=2, min_value=Decimal(0), **kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        if data is not empty and data is not None and (not isinstance(data, str) or not data):
            self.fail("invalid")
        return super().run_validation(data)


class ErrorSerializer(serializers.Serializer):
    """Every error the API answers, whatever went wrong."""

    status = serializers.IntegerField(help_text="The HTTP status, repeated.")
    code = serializers.CharField(
        help_text="A stable machine-readable code, e.g. invalid, not_found, throttled."
    )
    message = serializers.CharField(help_text="What went wrong, in a sentence for a person.")
    fields = serializers.DictField(  # type: ignore[assignment]  # a field, popped by the metaclass
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per field (dotted for nested ones), what is wrong with it; empty otherwise.",
    )


class AgentBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Agent
        fields = ["id", "display_name"]


class ContactBriefSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "full_name", "first_name", "last_name", "email", "phone"]


class ContactSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id", "full_name", "first_name", "last_name", "email", "phone", "marketing_status",
            "created_at", "updated_at",
        ]  # fmt: skip


class PersonSerializer(ContactSerializer):
    """A person with every address they are known by and their tags (the people API; read
    with ``prefetch_related("emails", "phones", "tags")``)."""

    emails = serializers.SerializerMethodField()
    phones = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()

    class Meta(ContactSerializer.Meta):
        fields = [*ContactSerializer.Meta.fields, "emails", "phones", "tags"]

    def get_emails(self, contact: Contact) -> list[str]:
        return [row.email for row in contact.emails.all()]

    def get_phones(self, contact: Contact) -> list[str]:
        return [row.phone for row in contact.phones.all()]

    def get_tags(self, contact: Contact) -> list[str]:
        return [row.name for row in contact.tags.all()]


class PhoneField(Text):
    """A phone number in any common form, answered in E.164; refused when not a number."""

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        phone = normalize_phone(text)
        if not phone:
            raise serializers.ValidationError(f"{text!r} is not a phone number.")
        return phone


class PersonWriteSerializer(serializers.Serializer):
    """What adding or changing a person takes; every field optional when changing."""

    first_name = Text(max_length=100, required=False, allow_blank=True)
    last_name = Text(max_length=100, required=False, allow_blank=True)
    emails = serializers.ListField(
        child=serializers.EmailField(max_length=254), required=False, max_length=10,
        help_text="Addresses the person is known by; the first is the primary one.",
    )  # fmt: skip
    phones = serializers.ListField(
        child=PhoneField(max_length=40), required=False, max_length=10,
        help_text="Phone numbers (answered in E.164); the first is the primary one.",
    )  # fmt: skip
    tags = serializers.ListField(
        child=Text(max_length=50), required=False, max_length=50,
        help_text="When changing a person: their tags become exactly these.",
    )  # fmt: skip
    agent = Whole(required=False, min_value=1, help_text="Adding: the agent whose person this is.")

    def validate_emails(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(normalize_email(v) for v in value))


class LeadSerializer(serializers.ModelSerializer):
    """A lead with its contact and agent, as the agent app shows it."""

    contact = ContactBriefSerializer(read_only=True)
    assigned_agent = AgentBriefSerializer(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField(help_text="The lead's page in the agent app.")
    page_url = serializers.CharField(read_only=True, help_text="Where it was sent from, or ''.")
    referrer = serializers.CharField(read_only=True, help_text="The page before, or ''.")

    class Meta:
        model = Lead
        fields = [
            "id", "public_id", "url", "status", "lead_type", "source", "source_detail", "team",
            "contact", "assigned_agent", "message", "property_address", "property_city",
            "property_state", "property_zip", "mls_number", "price", "utm_source", "utm_medium",
            "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid", "page_url",
            "referrer", "sla_due_at", "received_at", "created_at", "updated_at", "assigned_at",
            "accepted_at", "first_contact_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, lead: Lead) -> str:
        request = self.context.get("request")
        path = reverse("leads:lead", args=[lead.pk])
        return request.build_absolute_uri(path) if request is not None else settings.SITE_URL + path


ORDERINGS = (
    "received_at",
    "-received_at",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
)
STATUS_FILTERS = [*Lead.Status.choices, ("open", "Any open status"), ("closed", "Won or lost")]


class LeadQuerySerializer(serializers.Serializer):
    """The list's filters, all optional and combined with AND."""

    status = serializers.ChoiceField(
        choices=STATUS_FILTERS, required=False, help_text="A status, or open, or closed."
    )
    source = serializers.CharField(  # type: ignore[assignment]  # a field, popped by the metaclass
        max_length=32, required=False, help_text="A lead source, e.g. webform, zillow, api."
    )
    lead_type = serializers.ChoiceField(choices=Lead.Type.choices, required=False)
    agent = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="The assigned agent's id."
    )
    scope = serializers.ChoiceField(
        choices=[("mine", "Assigned or offered to me"), ("pool", "The team's pool")],
        required=False,
        help_text="Only your own leads, or only the team's unassigned pool.",
    )
    search = serializers.CharField(
        max_length=200, required=False, help_text="Words of the person's name, email or phone."
    )
    created_after = serializers.DateTimeField(required=False, help_text="Created at or after.")
    created_before = serializers.DateTimeField(required=False, help_text="Created before.")
    updated_after = serializers.DateTimeField(required=False, help_text="Changed at or after.")
    updated_before = serializers.DateTimeField(required=False, help_text="Changed before.")
    updated_since = serializers.DateTimeField(
        required=False,
        help_text="Changed at or after this moment, oldest change first: for polling.",
    )
    ordering = serializers.ChoiceField(
        choices=ORDERINGS,
        required=False,
        help_text="Default -received_at (newest first), or updated_at with updated_since.",
    )


class LeadStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[c for c in Lead.Status.choices if c[0] != Lead.Status.NEW],
        help_text="Where the lead stands now; a new lead moved on is accepted by the same stroke.",
    )


class NoteSerializer(serializers.Serializer):
    text = Text(max_length=5000, help_text="The note, as it should read.")


class NoteCreatedSerializer(serializers.ModelSerializer):
    text = serializers.SerializerMethodField()

    class Meta:
        model = Activity
        fields = ["id", "kind", "summary", "text", "created_at"]

    def get_text(self, activity: Activity) -> str:
        return str(activity.data.get("text", ""))


class AssignSerializer(serializers.Serializer):
    agent = Whole(min_value=1, max_value=MAX_ID, help_text="An active agent of the lead's team.")
    reason = Text(max_length=500, required=False, allow_blank=True, default="")

    def __init__(self, *args: Any, agents: QuerySet[Agent] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agents = Agent.objects.none() if agents is None else agents

    def validate_agent(self, value: int) -> Agent:
        agent = self.agents.filter(pk=value).first()
        if agent is None:
            raise serializers.ValidationError("Choose an active agent of the lead's team.")
        return agent


class TimelineEntrySerializer(serializers.Serializer):
    """One line of a lead's story: an activity, a routing decision or an alert."""

    at = serializers.DateTimeField()
    kind = serializers.CharField(
        help_text="An activity kind (received, assigned, note, ...), routing or delivery."
    )
    title = serializers.CharField()
    actor = serializers.CharField(help_text="Who did it; empty when the system did.")
    details = serializers.ListField(child=serializers.CharField())


class AgentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Agent
        fields = [
            "id", "display_name", "email", "mobile_phone", "role", "team", "is_active",
            "is_paused", "daily_capacity", "time_zone", "working_hours", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class AvailabilitySerializer(serializers.Serializer):
    is_paused = Flag(required=False, help_text="On vacation: routing skips the agent.")
    daily_capacity = Whole(
        required=False, min_value=0, max_value=10_000, help_text="Most new leads a day; 0: none."
    )


class TerritorySerializer(serializers.ModelSerializer):
    agents: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Territory
        fields = [
            "id", "name", "zip_codes", "cities", "counties", "states", "priority", "agents",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class RuleMemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = RuleMember
        fields = ["agent", "step", "position", "weight"]
        read_only_fields = fields


class RoutingRuleSerializer(serializers.ModelSerializer):
    members = RuleMemberSerializer(many=True, read_only=True)

    class Meta:
        model = RoutingRule
        fields = [
            "id", "name", "is_default", "is_active", "priority", "territory", "sources",
            "lead_types", "price_min", "price_max", "requires_phone", "mode",
            "use_territory_agents", "sla_minutes", "members", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


# --- Creating a lead: validated at the door and again when the stored request is parsed ------


class ConsentInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Consent.Channel.choices)
    granted = Flag()
    text = Text(max_length=5000, help_text="The exact words the person saw.")


class LeadCreateSerializer(serializers.Serializer):
    """An inquiry sent through the API. An email address or a phone number is required."""

    first_name = Text(max_length=100, required=False, allow_blank=True)
    last_name = Text(max_length=100, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False)
    phone = Text(
        max_length=32, required=False, allow_blank=True, help_text="Any format; stored in E.164."
    )
    message = Text(max_length=5000, required=False, allow_blank=True)
    lead_type = serializers.ChoiceField(choices=Lead.Type.choices, default=Lead.Type.BUYER)
    source_detail = Text(
        max_length=200, required=False, allow_blank=True, help_text="Where it came from."
    )
    property_address = Text(max_length=255, required=False, allow_blank=True)
    property_city = Text(max_length=100, required=False, allow_blank=True)
    property_state = serializers.RegexField(
        r"^[A-Za-z]{2}$", required=False, help_text="Two-letter state code."
    )
    property_zip = serializers.RegexField(
        r"^[0-9]{5}(-[0-9]{4})?$", required=False, help_text="ZIP or ZIP+4; stored as 5 digits."
    )
    mls_number = Text(max_length=50, required=False, allow_blank=True)
    price = Money(required=False, allow_null=True)
    utm_source = Text(max_length=255, required=False, allow_blank=True)
    utm_medium = Text(max_length=255, required=False, allow_blank=True)
    utm_campaign = Text(max_length=255, required=False, allow_blank=True)
    utm_term = Text(max_length=255, required=False, allow_blank=True)
    utm_content = Text(max_length=255, required=False, allow_blank=True)
    gclid = Text(max_length=255, required=False, allow_blank=True)
    fbclid = Text(max_length=255, required=False, allow_blank=True)
    page_url = serializers.RegexField(
        WEB_ADDRESS, max_length=2000, required=False, help_text="The page it was sent from."
    )
    referrer = serializers.RegexField(
        WEB_ADDRESS, max_length=2000, required=False, help_text="The page before that one."
    )
    consents = ConsentInputSerializer(
        many=True, required=False, help_text="What the person agreed to, channel by channel."
    )

    def validate_email(self, value: str) -> str:
        return normalize_email(value)

    def validate_phone(self, value: str) -> str:
        if not value.strip():
            return ""
        phone = normalize_phone(value)
        if not phone:
            raise serializers.ValidationError("Enter a valid phone number, e.g. (305) 555-0123.")
        return phone

    def validate_property_zip(self, value: str) -> str:
        if not value.strip():
            return ""
        zip_code = normalize_zip(value)
        if not zip_code:
            raise serializers.ValidationError("Enter a five-digit ZIP code.")
        return zip_code

    def validate_property_state(self, value: str) -> str:
        return value.upper()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("email") and not attrs.get("phone"):
            raise serializers.ValidationError({"email": ["Give an email address or a phone."]})
        return attrs
