"""Alert alerts in the admin: what was sent to whom, what became of it, resend."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from leads.models import Agent

from .faults import sending_faults_open
from .models import AgentAlert, AlertSettings, SendingFault, alert_settings_for
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


# --- The agent's alert settings, on the agent's own page -------------------------------------


class AlertProblemFilter(admin.SimpleListFilter):
    title = "alert problems"
    parameter_name = "alert_problem"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Alerts cannot reach them")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Agent]) -> QuerySet[Agent]:
        if self.value() == "yes":
            return queryset.filter(alert_settings__isnull=False).exclude(
                alert_settings__phone_problem="",
                alert_settings__email_problem="",
                alert_settings__sms_opted_out_at=None,
            )
        return queryset


class AlertSettingsInline(admin.StackedInline):
    model = AlertSettings
    can_delete = False
    readonly_fields = ["sms_opted_out_at"]
    verbose_name_plural = "alert settings"


AgentAdmin = type(admin.site._registry[Agent])


class AgentWithAlertsAdmin(AgentAdmin):  # type: ignore[misc, valid-type]
    """The agent's admin page, with their alert settings and why alerts cannot reach them."""

    inlines = [*AgentAdmin.inlines, AlertSettingsInline]
    list_display = [*AgentAdmin.list_display, "alert_problems"]
    list_filter = [*AgentAdmin.list_filter, AlertProblemFilter]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return super().get_queryset(request).select_related("alert_settings")

    @admin.display(description="Alert problems")
    def alert_problems(self, obj: Agent) -> str:
        """Why alerts cannot reach the agent: fixed by correcting the phone or address."""
        return "; ".join(alert_settings_for(obj).problems) or "-"


admin.site.unregister(Agent)
admin.site.register(Agent, AgentWithAlertsAdmin)


@admin.register(SendingFault)
class SendingFaultAdmin(admin.ModelAdmin):
    """Our own faults that stop a channel sending (shown on /healthz too): open ones first."""

    list_display = [
        "channel", "code", "message", "where", "occurrences", "first_seen_at", "last_seen_at",
        "cleared_at",
    ]  # fmt: skip
    list_filter = ["channel", "code"]
    readonly_fields = [
        "channel", "code", "message", "where", "occurrences", "first_seen_at", "last_seen_at",
        "mailed_at", "cleared_at",
    ]  # fmt: skip

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        sending_faults_open()  # those a send ended since are cleared first
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        sending_faults_open()
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
