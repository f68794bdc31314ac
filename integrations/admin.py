from __future__ import annotations

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from .models import InboundEvent, WebForm
from .services import events_replay


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
        "received_at", "last_attempt_at", "processed_at", "content_type", "remote_addr",
        "headers", "meta", "raw_body",
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
        src = settings.SITE_URL + reverse("integrations:webform_embed", args=[obj.public_key])
        return format_html('<code>&lt;script src="{}" async&gt;&lt;/script&gt;</code>', src)
