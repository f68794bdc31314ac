from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from leads.models import Agent, Team

from .models import (
    FacebookPage,
    InboundEvent,
    LeadSource,
    SourceAgentId,
    WebForm,
)
from .selectors import email_unknown_recipients, source_health
from .services import events_replay
from .sources.email.addresses import agent_address, team_address
from .sources.email.health import email_vendor_failures
from .sources.facebook.backfill import facebook_backfill
from .sources.facebook.mapping import MAPPABLE_FIELDS
from .sources.facebook.pages import facebook_page_set_token


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = [
        "received_at",
        "source",
        "status",
        "external_id",
        "attempts",
        "lead",
        "short_error",
    ]
    list_filter = ["source", "status"]
    search_fields = ["external_id", "public_id", "error"]
    date_hierarchy = "received_at"
    actions = ["replay"]
    readonly_fields = [
        "public_id", "source", "external_id", "status", "error", "attempts", "lead",
        "received_at", "last_attempt_at", "next_attempt_at", "claimed_until", "processed_at",
        "content_type", "remote_addr", "headers", "meta", "raw_body",
    ]  # fmt: skip
    exclude = ["body"]
    list_select_related = ["lead__contact"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Error")
    def short_error(self, obj: InboundEvent) -> str:
        return obj.error[:80]

    @admin.display(description="Raw body")
    def raw_body(self, obj: InboundEvent) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.body_text)

    @admin.action(description="Replay the selected events (never makes a second lead)")
    def replay(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        count = events_replay(events=queryset)
        skipped = queryset.count() - count
        self.message_user(request, f"Replayed {count} event(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Left {skipped} processed event(s) alone.", messages.INFO)


@admin.register(LeadSource)
class LeadSourceAdmin(admin.ModelAdmin):
    """Operations' view of every source at once: when it last spoke, how much today, and
    what failed or is stuck, each number a link to those events (where they can be replayed).
    Seen by whoever may see the events themselves."""

    change_list_template = "admin/intake/leadsource/health.html"

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("intake.view_inboundevent")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        events = reverse("admin:intake_inboundevent_changelist")
        rows = [
            {
                "health": health,
                "events_url": f"{events}?{urlencode({'source__exact': health.key})}",
                "failed_url": f"{events}?"
                + urlencode({"source__exact": health.key, "status__exact": "failed"}),
                "stuck_url": f"{events}?"
                + urlencode({"source__exact": health.key, "status__exact": "received"}),
            }
            for health in source_health()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Lead sources",
            "opts": self.model._meta,
            "rows": rows,
            "stuck_after": settings.EVENT_SWEEP_AFTER_SECONDS,
            "unknown_recipients": email_unknown_recipients(),
            "failing_vendors": [v for v in email_vendor_failures() if v.rising],
            "pages_to_reauthorise": FacebookPage.objects.filter(
                status=FacebookPage.Status.NEEDS_REAUTH
            ).count(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.change_list_template, context)


@admin.register(WebForm)
class WebFormAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "team", "public_key", "is_active", "hosted_link"]
    list_filter = ["team", "is_active"]
    search_fields = ["name", "public_key"]
    readonly_fields = ["public_key", "embed_snippet", "created_at"]

    @admin.display(description="Hosted form")
    def hosted_link(self, obj: WebForm) -> str:
        return format_html('<a href="{}" target="_blank">open</a>', obj.get_absolute_url())

    @admin.display(description="Embed on your site")
    def embed_snippet(self, obj: WebForm) -> str:
        from django.conf import settings
        from django.urls import reverse

        if not obj.pk:
            return "Save the form first."
        src = settings.SITE_URL + reverse("intake:webform_embed", args=[obj.public_key])
        return format_html('<code>&lt;script src="{}" async&gt;&lt;/script&gt;</code>', src)


# --- Facebook Lead Ads ------------------------------------------------------------------------


class FacebookPageForm(forms.ModelForm):
    access_token = forms.CharField(
        label="Page access token",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current "
        "one; saving a new one makes the page active and reads the leads that waited.",
    )

    class Meta:
        model = FacebookPage
        fields = ["page_id", "name", "team", "access_token", "field_mapping"]

    def clean_field_mapping(self) -> dict[str, dict[str, str]]:
        mapping = self.cleaned_data.get("field_mapping") or {}
        if not isinstance(mapping, dict) or not all(
            isinstance(questions, dict) for questions in mapping.values()
        ):
            raise forms.ValidationError(
                'Give an object of form ids (or "*"), each an object of question key to field.'
            )
        unknown = sorted(
            {str(f) for questions in mapping.values() for f in questions.values()}
            - set(MAPPABLE_FIELDS)
        )
        if unknown:
            raise forms.ValidationError(
                f"Unknown lead field(s): {', '.join(unknown)}. Use: {', '.join(MAPPABLE_FIELDS)}."
            )
        return mapping

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None and not data.get("access_token"):
            self.add_error("access_token", "A new page needs its access token.")
        return data


@admin.register(FacebookPage)
class FacebookPageAdmin(admin.ModelAdmin):
    form = FacebookPageForm
    list_display = [
        "name", "page_id", "team", "status", "token_stored", "last_backfill_at", "last_lead_time",
    ]  # fmt: skip
    list_filter = ["status", "team"]
    search_fields = ["name", "page_id"]
    readonly_fields = ["status", "status_reason", "token_stored", "last_backfill_at",
                       "last_lead_time", "known_forms", "created_at"]  # fmt: skip
    actions = ["backfill"]

    @admin.display(description="Token", boolean=True)
    def token_stored(self, obj: FacebookPage) -> bool:
        return obj.has_access_token

    @admin.display(description="Forms seen")
    def known_forms(self, obj: FacebookPage) -> str:
        names = sorted(f"{form.get('name') or '?'} ({key})" for key, form in obj.forms.items())
        return ", ".join(names) or "None yet."

    def save_model(
        self, request: HttpRequest, obj: FacebookPage, form: forms.ModelForm, change: bool
    ) -> None:
        token = form.cleaned_data.get("access_token", "")
        if token:
            waiting = facebook_page_set_token(page=obj, token=token)
            if waiting:
                self.message_user(
                    request, f"{waiting} waiting lead(s) are being read now.", messages.SUCCESS
                )
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Backfill: fetch leads the webhook may have missed")
    def backfill(self, request: HttpRequest, queryset: QuerySet[FacebookPage]) -> None:
        for page in queryset:
            result = facebook_backfill(page=page)
            level = messages.WARNING if result.error else messages.SUCCESS
            outcome = f" Stopped: {result.error}" if result.error else ""
            self.message_user(
                request,
                f"{page.name}: {result.forms} form(s), {result.seen} lead(s) seen, "
                f"{result.stored} new.{outcome}",
                level,
            )


# --- Agents' ids at the lead sources, on the agent's own page ---------------------------------


class SourceAgentIdInline(admin.TabularInline):
    model = SourceAgentId
    extra = 1
    verbose_name = "id at a lead source"
    verbose_name_plural = "ids at lead sources (their leads for that id are pinned to the agent)"


AgentAdmin = type(admin.site._registry[Agent])


class AgentWithSourceIdsAdmin(AgentAdmin):  # type: ignore[misc, valid-type]
    """The agent's admin page, with the ids the lead sources know them by and their own lead
    email address."""

    inlines = [*AgentAdmin.inlines, SourceAgentIdInline]
    search_fields = [*AgentAdmin.search_fields, "source_ids__external_id", "slug"]
    readonly_fields = [*AgentAdmin.readonly_fields, "lead_email_address"]

    @admin.display(description="lead email address")
    def lead_email_address(self, obj: Agent) -> str:
        return (agent_address(obj) if obj.pk else "") or "—"


admin.site.unregister(Agent)
admin.site.register(Agent, AgentWithSourceIdsAdmin)

TeamAdmin = type(admin.site._registry[Team])


class TeamWithLeadAddressAdmin(TeamAdmin):  # type: ignore[misc, valid-type]
    """The team's admin page, with its lead email address (``<slug>@EMAIL_INTAKE_DOMAIN``)."""

    list_display = [*TeamAdmin.list_display, "slug", "lead_email_address"]
    search_fields = [*TeamAdmin.search_fields, "slug"]
    readonly_fields = [*TeamAdmin.readonly_fields, "lead_email_address"]

    @admin.display(description="lead email address")
    def lead_email_address(self, obj: Team) -> str:
        return (team_address(obj) if obj.pk else "") or "—"


admin.site.unregister(Team)
admin.site.register(Team, TeamWithLeadAddressAdmin)
