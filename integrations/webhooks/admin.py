"""Outbound webhooks in the admin: subscriptions (secret shown once), deliveries, redelivery."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.timezone import localtime

from leads.admin import show_secret_once

from .models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from .services import UnsafeDestination, check_destination, subscription_enable, webhooks_redeliver


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https", help_text="Where events go.")
    events = forms.MultipleChoiceField(
        choices=WebhookSubscription.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "team", "events", "is_active"]

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        try:
            check_destination(url)
        except UnsafeDestination as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


ATTEMPT_FIELDS = ("attempted_at", "status_code", "latency_ms", "error", "response_excerpt")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ATTEMPT_FIELDS
    readonly_fields = ATTEMPT_FIELDS
    extra = 0
    can_delete = False
    ordering = ["-attempted_at", "-id"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = [
        "name", "url", "team", "is_active", "events_from", "consecutive_failures",
        "failing_since", "disabled_at",
    ]  # fmt: skip
    list_filter = ["is_active", "team"]
    search_fields = ["name", "url"]
    readonly_fields = [
        "events_from", "consecutive_failures", "failing_since", "disabled_at", "disabled_reason",
        "created_at",
    ]  # fmt: skip
    actions = ["enable"]

    def response_add(
        self, request: HttpRequest, obj: WebhookSubscription, post_url_continue: Any = None
    ) -> HttpResponse:
        return show_secret_once(
            request,
            title=f"Signing secret for {obj}",
            lead_in="Give this secret to the receiver: it verifies each event's "
            "webhook-signature with it (Standard Webhooks). It receives the events of changes "
            f"made from {localtime(obj.events_from):%Y-%m-%d %H:%M:%S %Z} on.",
            secret=obj.secret,
            next_url=reverse("admin:webhooks_webhooksubscription_changelist"),
        )

    @admin.action(description="Enable again (failure counters reset)")
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            subscription_enable(subscription=subscription)
        self.message_user(request, f"Enabled {len(queryset)} subscription(s).", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "event_type", "subscription", "status", "attempts", "last_status_code",
        "next_attempt_at",
    ]  # fmt: skip
    list_filter = ["status", "event_type", "subscription"]
    search_fields = ["message_id", "payload"]
    list_select_related = ["subscription"]
    date_hierarchy = "created_at"
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]
    readonly_fields = [
        "subscription", "message_id", "event_type", "status", "attempts", "next_attempt_at",
        "retry_until", "last_attempt_at", "last_status_code", "last_error", "delivered_at",
        "created_at", "body",
    ]  # fmt: skip
    exclude = ["payload"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Body")
    def body(self, obj: WebhookDelivery) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.payload)

    @admin.action(description="Redeliver the selected deliveries now")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = webhooks_redeliver(deliveries=queryset)
        self.message_user(request, f"Queued {count} delivery(ies) again.", messages.SUCCESS)
