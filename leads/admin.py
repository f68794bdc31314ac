from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from .forms import TestLeadForm
from .models import (
    Activity,
    Agent,
    Consent,
    Contact,
    ContactEmail,
    ContactPhone,
    Lead,
    LeadOffer,
    Listing,
    RoutingDecision,
    RoutingRule,
    RuleMember,
    Team,
    Territory,
)
from .routing import route


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


@admin.register(Territory)
class TerritoryAdmin(admin.ModelAdmin):
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


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "phone", "marketing_status", "created_at"]
    list_filter = ["marketing_status"]
    search_fields = ["first_name", "last_name", "emails__email", "phones__phone"]
    inlines = [ContactEmailInline, ContactPhoneInline, ConsentInline]
    date_hierarchy = "created_at"


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
