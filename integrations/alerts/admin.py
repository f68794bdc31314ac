"""Alert alerts in the admin: what was sent to whom, what became of it, resend."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import AgentAlert
from .services import alerts_resend


@admin.register(AgentAlert)
class AgentAlertAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "lead", "agent", "channel", "kind", "status", "attempts", "error_code",
        "sent_at", "delivered_at",
    ]  # fmt: skip
    list_filter = ["status", "channel", "kind", "agent__team"]
    search_fields = ["provider_id", "to", "agent__display_name", "lead__contact__last_name"]
    list_select_related = ["lead__contact", "agent"]
    date_hierarchy = "created_at"
    actions = ["resend"]
    readonly_fields = [
        "lead", "agent", "channel", "kind", "step", "status", "to", "body", "provider_id",
        "attempts", "next_attempt_at", "error_code", "last_error", "fallback_for", "created_at",
        "sent_at", "delivered_at", "failed_at", "updated_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Send the selected failed alerts again")
    def resend(self, request: HttpRequest, queryset: QuerySet[AgentAlert]) -> None:
        count = alerts_resend(alerts=queryset)
        self.message_user(request, f"Queued {count} alert(s) again.", messages.SUCCESS)
