from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template import RequestContext, Template
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers

from . import signals
from .forms import TestLeadForm, WordListField
from .models import (
    Activity,
    Agent,
    ApiToken,
    Consent,
    Contact,
    ContactEmail,
    ContactPhone,
    Integration,
    Lead,
    LeadOffer,
    Listing,
    RoutingDecision,
    RoutingRule,
    RuleMember,
    Team,
    Territory,
)
from .ratelimit import parse_rate
from .routing import route
from .services import (
    api_token_create,
    api_token_revoke,
    integration_create,
    integration_key_set,
    integration_revoke,
)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "created_at"]
    search_fields = ["name"]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = [
        "display_name",
        "team",
        "role",
        "email",
        "mobile_phone",
        "is_active",
        "is_paused",
        "daily_capacity",
    ]
    list_filter = ["team", "role", "is_active", "is_paused"]
    search_fields = ["display_name", "email", "mobile_phone", "user__username"]
    autocomplete_fields = ["user"]
    list_select_related = ["team"]


PLACE = r"[^,]+, ?[A-Za-z]{2}"


class TerritoryForm(forms.ModelForm):
    """A territory's places typed as words, not as JSON lists."""

    zip_codes = WordListField(
        label="ZIP codes", pattern=r"\d{5}", example="33139, 33140",
        help_text="Five-digit ZIP codes, separated by commas or spaces.",
    )  # fmt: skip
    cities = WordListField(
        lines=True, pattern=PLACE, example="Miami Beach, FL",
        help_text="One a line, with the state: Miami Beach, FL.",
    )  # fmt: skip
    counties = WordListField(
        lines=True, pattern=PLACE, example="Orange County, FL",
        help_text="One a line, with the state: Orange County, FL.",
    )  # fmt: skip
    states = WordListField(
        normal=str.upper, pattern=r"[A-Z]{2}", example="FL, GA",
        help_text="Two-letter codes, separated by commas or spaces.",
    )  # fmt: skip

    class Meta:
        model = Territory
        fields = ["team", "name", "zip_codes", "cities", "counties", "states", "priority", "agents"]


class RoutingRuleForm(forms.ModelForm):
    """A rule's conditions as words and ticks, not as JSON lists."""

    sources = WordListField(
        normal=str.lower, pattern=r"[a-z0-9_.-]+", example="zillow, realtor",
        help_text="The lead sources it takes, separated by commas (webform, zillow, realtor, "
        "facebook, ...); empty: any source.",
    )  # fmt: skip
    lead_types = forms.MultipleChoiceField(
        choices=Lead.Type.choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any type.",
    )  # fmt: skip

    class Meta:
        model = RoutingRule
        fields = [
            "team", "name", "is_active", "priority", "territory", "sources", "lead_types",
            "price_min", "price_max", "requires_phone", "mode", "use_territory_agents",
            "sla_minutes",
        ]  # fmt: skip


@admin.register(Territory)
class TerritoryAdmin(admin.ModelAdmin):
    form = TerritoryForm
    list_display = ["name", "team", "priority", "zip_count"]
    list_filter = ["team"]
    search_fields = ["name"]
    filter_horizontal = ["agents"]
    list_select_related = ["team"]

    @admin.display(description="ZIP codes")
    def zip_count(self, obj: Territory) -> int:
        return len(obj.zip_codes or [])


class ContactEmailInline(admin.TabularInline):
    model = ContactEmail
    extra = 0


class ContactPhoneInline(admin.TabularInline):
    model = ContactPhone
    extra = 0


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    fields = readonly_fields = ("channel", "granted", "text", "origin", "evidence", "obtained_at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


ANNOUNCED_CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "phone", "marketing_status", "created_at"]
    list_filter = ["marketing_status"]
    search_fields = ["first_name", "last_name", "emails__email", "phones__phone"]
    inlines = [ContactEmailInline, ContactPhoneInline, ConsentInline]
    date_hierarchy = "created_at"
    # Set by the marketing sync and by a person's recorded consent change, never by hand here.
    readonly_fields = ["marketing_status"]

    def save_model(self, request: HttpRequest, obj: Contact, form: Any, change: bool) -> None:
        """Save, and announce an edit of the person's details like any other change to the
        contact (the marketing list and webhook subscribers hear of it)."""
        super().save_model(request, obj, form, change)
        fields = [name for name in form.changed_data if name in ANNOUNCED_CONTACT_FIELDS]
        if change and fields:
            signals.contact_changed.announce(
                sender=Contact, contact=obj, fields=fields, origin="admin"
            )


class ActivityInline(admin.TabularInline):
    model = Activity
    extra = 0
    fields = readonly_fields = ("created_at", "kind", "summary", "actor")
    can_delete = False
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RoutingDecisionInline(admin.TabularInline):
    model = RoutingDecision
    extra = 0
    fields = readonly_fields = ("created_at", "kind", "agent", "rule", "reason", "skipped")
    can_delete = False
    verbose_name_plural = "routing: why it went where it went"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class LeadOfferInline(admin.TabularInline):
    model = LeadOffer
    extra = 0
    fields = readonly_fields = ("agent", "status", "offered_at", "closed_at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "received_at",
        "contact",
        "source",
        "lead_type",
        "property_zip",
        "assigned_agent",
        "status",
        "is_test",
    ]
    list_filter = ["status", "source", "lead_type", "team", "is_test", "assigned_agent"]
    search_fields = [
        "contact__first_name",
        "contact__last_name",
        "contact__emails__email",
        "contact__phones__phone",
        "external_id",
        "property_zip",
        "mls_number",
    ]
    list_select_related = ["contact", "assigned_agent"]
    date_hierarchy = "received_at"
    raw_id_fields = ["contact"]
    readonly_fields = [
        "public_id",
        "source",
        "external_id",
        "raw_event_id",
        "received_at",
        "created_at",
        "updated_at",
        "assigned_at",
        "accepted_at",
        "first_contact_at",
    ]
    inlines = [RoutingDecisionInline, LeadOfferInline, ActivityInline]
    fieldsets = [
        (None, {"fields": ["contact", "team", "assigned_agent", "status", "lead_type", "message"]}),
        (
            "Property",
            {
                "fields": [
                    "property_address",
                    "property_city",
                    "property_state",
                    "property_zip",
                    "mls_number",
                    "price",
                ]
            },
        ),
        (
            "Source",
            {
                "fields": [
                    "source",
                    "source_detail",
                    "external_id",
                    "raw_event_id",
                    "is_test",
                    "extra",
                ]
            },
        ),
        (
            "Attribution",
            {
                "classes": ["collapse"],
                "fields": [
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                    "utm_term",
                    "utm_content",
                    "gclid",
                    "fbclid",
                    "page_url",
                    "referrer",
                ],
            },
        ),
        (
            "Times",
            {
                "fields": [
                    "public_id",
                    "received_at",
                    "created_at",
                    "updated_at",
                    "assigned_at",
                    "accepted_at",
                    "first_contact_at",
                ]
            },
        ),
    ]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "summary", "lead", "actor"]
    list_filter = ["kind"]
    search_fields = ["summary"]
    raw_id_fields = ["contact", "lead"]
    list_select_related = ["lead__contact", "actor"]


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["contact", "channel", "granted", "origin", "obtained_at"]
    list_filter = ["channel", "granted"]
    search_fields = ["contact__emails__email", "origin"]
    raw_id_fields = ["contact", "lead"]


class RuleMemberInline(admin.TabularInline):
    model = RuleMember
    extra = 1
    fields = ["agent", "step", "position", "weight"]
    autocomplete_fields = ["agent"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    form = RoutingRuleForm
    list_display = [
        "name", "team", "territory", "mode", "priority", "sla_minutes", "is_active", "is_default",
    ]  # fmt: skip
    list_filter = ["team", "mode", "is_active"]
    search_fields = ["name", "territory__name"]
    list_select_related = ["team", "territory"]
    autocomplete_fields = ["territory"]
    inlines = [RuleMemberInline]
    readonly_fields = ["is_default", "rotation_key"]
    change_list_template = "admin/leads/routingrule/change_list.html"
    fieldsets = [
        (None, {"fields": ["team", "name", "is_active", "is_default", "priority"]}),
        (
            "Which leads",
            {
                "fields": [
                    "territory",
                    "sources",
                    "lead_types",
                    "price_min",
                    "price_max",
                    "requires_phone",
                ]
            },
        ),
        (
            "To whom, how",
            {"fields": ["mode", "use_territory_agents", "sla_minutes", "rotation_key"]},
        ),
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RoutingRule]) -> None:
        defaults = queryset.filter(is_default=True).count()
        if defaults:
            self.message_user(
                request, f"Kept {defaults} team default rule(s): they cannot be deleted.",
                messages.WARNING,
            )  # fmt: skip
        super().delete_queryset(request, queryset.filter(is_default=False))

    def get_urls(self) -> list[URLPattern]:
        test = path(
            "test-a-lead/",
            self.admin_site.admin_view(self.test_lead_view),
            name="leads_routingrule_test",
        )
        return [test, *super().get_urls()]

    def test_lead_view(self, request: HttpRequest) -> HttpResponse:
        """Where would a lead with these facts go? Decides without creating or changing anything."""
        form = TestLeadForm(request.POST or None)
        decision = None
        if request.method == "POST" and form.is_valid():
            decision = route(form.unsaved_lead())
        context = {
            **self.admin_site.each_context(request),
            "title": "Test a lead",
            "opts": self.model._meta,
            "form": form,
            "decision": decision,
        }
        return TemplateResponse(request, "admin/leads/routingrule/test_lead.html", context)


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["mls_number", "agent", "address", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["mls_number", "address", "agent__display_name"]
    autocomplete_fields = ["agent"]
    list_select_related = ["agent"]


@admin.register(RoutingDecision)
class RoutingDecisionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "lead", "kind", "agent", "rule", "reason"]
    list_filter = ["kind", "mode"]
    search_fields = ["reason"]
    list_select_related = ["lead__contact", "agent", "rule"]
    raw_id_fields = ["lead"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- API tokens ---------------------------------------------------------------------------

SECRET_PAGE = Template(
    """{% extends "admin/base_site.html" %}
{% block content %}<div id="content-main">
<p>{{ lead_in }}</p>
<p><code class="secret">{{ secret }}</code></p>
<p><strong>It will not be shown again.</strong> Keep it where your other secrets are.</p>
<p><a class="button" href="{{ next }}">Done</a></p>
</div>{% endblock %}"""
)


def show_secret_once(
    request: HttpRequest, *, title: str, lead_in: str, secret: str, next_url: str
) -> HttpResponse:
    """An admin page that shows a new secret, the only time it is ever shown.

    Rendered straight into the response (never put in a message, which may travel in a
    cookie), and never cached.
    """
    context = RequestContext(
        request,
        {**admin.site.each_context(request), "title": title, "lead_in": lead_in,
         "secret": secret, "next": next_url},
    )  # fmt: skip
    response = HttpResponse(SECRET_PAGE.render(context))
    add_never_cache_headers(response)
    return response


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    raw_id_fields = ["user"]
    actions = ["revoke"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readonly_fields, "user"] if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["user", "name"] if obj is None else ["user", "name", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, raw = api_token_create(user=form.cleaned_data["user"], name=obj.name)
        obj.pk, obj.prefix, obj.digest = token.pk, token.prefix, token.digest
        request._new_api_token = raw  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: Any = None
    ) -> HttpResponse:
        return show_secret_once(
            request,
            title=f"API token for {obj.user}",
            lead_in=f"The token “{obj.name}” for {obj.user}. Send it as "
            "Authorization: Bearer <token>.",
            secret=request._new_api_token,  # type: ignore[attr-defined]
            next_url=reverse("admin:leads_apitoken_changelist"),
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {len(queryset)} token(s).", messages.SUCCESS)


# --- Integrations -----------------------------------------------------------------------


class IntegrationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Integration.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="What its key may do; nothing ticked: nothing.",
    )

    class Meta:
        model = Integration
        fields = ["name", "team", "source", "scopes", "rate_limit"]

    def clean_rate_limit(self) -> str:
        value: str = self.cleaned_data["rate_limit"].strip()
        if value:
            try:
                parse_rate(value)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return value


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    form = IntegrationForm
    list_display = ["name", "team", "source", "prefix", "last_used_at", "revoked_at"]
    list_filter = ["team", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "source", "prefix"]
    list_select_related = ["team"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke", "new_key"]

    def save_model(self, request: HttpRequest, obj: Integration, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        integration, raw = integration_create(
            name=data["name"], team=data["team"], source=data["source"],
            scopes=data["scopes"], rate_limit=data["rate_limit"],
        )  # fmt: skip
        obj.pk, obj.prefix, obj.digest = integration.pk, integration.prefix, integration.digest
        request._new_integration_key = raw  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: Integration, post_url_continue: Any = None
    ) -> HttpResponse:
        return self._show_key(request, obj, request._new_integration_key)  # type: ignore[attr-defined]

    def _show_key(self, request: HttpRequest, obj: Integration, raw: str) -> HttpResponse:
        return show_secret_once(
            request,
            title=f"Key for {obj.name}",
            lead_in=f"The key of the integration “{obj.name}” (source {obj.source}). It sends "
            "it as Authorization: Bearer <key>.",
            secret=raw,
            next_url=reverse("admin:leads_integration_changelist"),
        )

    @admin.action(description="Revoke the selected integrations' keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            integration_revoke(integration=integration)
        self.message_user(request, f"Revoked {len(queryset)} key(s).", messages.SUCCESS)

    @admin.action(description="Give the selected integration a new key (the old one stops)")
    def new_key(self, request: HttpRequest, queryset: QuerySet[Integration]) -> HttpResponse | None:
        if len(queryset) != 1:
            self.message_user(request, "Choose one integration at a time.", messages.ERROR)
            return None
        integration = queryset[0]
        return self._show_key(request, integration, integration_key_set(integration=integration))
