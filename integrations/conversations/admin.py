"""Conversations in the admin: every message with what became of it; each team's sender."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Message, TeamMessaging


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "contact", "lead", "direction", "kind", "channel", "status", "attempts",
        "error_code", "sent_at", "delivered_at",
    ]  # fmt: skip
    list_filter = ["status", "direction", "kind", "channel", "team"]
    search_fields = ["provider_id", "to", "contact__last_name", "body"]
    list_select_related = ["contact", "lead"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Message._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TeamMessaging)
class TeamMessagingAdmin(admin.ModelAdmin):
    list_display = ["team", "from_number", "messaging_service_sid", "help_contact"]
