"""Conversations in the admin: every message with what became of it; each team's sender."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from .greetings import context_for_sample, render, template_problem
from .models import GreetingTemplate, Message, TeamMessaging


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


class GreetingTemplateForm(forms.ModelForm):
    class Meta:
        model = GreetingTemplate
        fields = ["team", "source", "channel", "subject", "body", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in ("subject", "body"):
            problem = template_problem(cleaned.get(name) or "")
            if problem:
                self.add_error(name, f"Not a template that renders: {problem}")
        return cleaned


@admin.register(GreetingTemplate)
class GreetingTemplateAdmin(admin.ModelAdmin):
    """The instant replies, with a preview of each as a lead would get it."""

    form = GreetingTemplateForm
    list_display = ["__str__", "team", "source", "channel", "is_active", "updated_at"]
    list_filter = ["channel", "is_active", "team"]
    readonly_fields = ["preview", "placeholders"]
    fields = [
        "team", "source", "channel", "subject", "body", "is_active", "placeholders", "preview",
    ]  # fmt: skip

    @admin.display(description="Preview")
    def preview(self, obj: GreetingTemplate) -> str:
        if not obj.pk:
            return "Save to see the preview."
        sample = context_for_sample()
        text = render(obj.body, sample)
        unrouted = render(obj.body, {**sample, "agent": None})
        subject = render(obj.subject, sample) if obj.subject else ""
        return format_html(
            "{}<p><strong>Routed to Alex Carter:</strong></p><pre>{}</pre>"
            "<p><strong>Before routing picks an agent:</strong></p><pre>{}</pre>"
            "<p>{} characters{}.</p>",
            format_html("<p><strong>Subject:</strong> {}</p>", subject) if subject else "",
            text,
            unrouted,
            len(text),
            ""
            if obj.channel != Message.Channel.SMS or len(text) <= 160
            else " (more than one SMS segment)",
        )

    @admin.display(description="What you can write")
    def placeholders(self, obj: GreetingTemplate) -> str:
        return (
            "{{ first_name }}, {{ team }}, {{ agent.name }}, {{ agent.first_name }}, "
            "{{ agent.phone }}, {{ place }}, {{ source }}; {% if agent %}...{% endif %} for "
            "the text before routing picks an agent. Texts end with how to opt out (Reply STOP)."
        )
