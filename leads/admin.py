from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from .models import (
    Activity,
    Agent,
    Consent,
    Contact,
    ContactEmail,
    ContactPhone,
    Lead,
    Team,
    Territory,
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
    inlines = [ActivityInline]
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
