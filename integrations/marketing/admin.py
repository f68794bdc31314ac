"""The marketing sync in the admin: each contact's state, the runs and their progress.

The contact's own page gets the state as an inline,
so a refusal (a compliance state, a forgotten email) is seen where the contact is.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from leads.admin import ContactAdmin
from leads.models import Contact

from .base import sync_off_reason
from .models import SyncRun, SyncState
from .services import (
    marketing_consent_set,
    marketing_full_sync_start,
    marketing_reconcile,
    marketing_retry,
)

STATE_FIELDS = (
    "email", "remote_status", "pushed_at", "due_at", "attempts", "error_permanent", "last_error",
    "send_status", "pushed_tags", "field_changes", "remote_changed_at",
)  # fmt: skip


def _warn_when_off(request: HttpRequest) -> None:
    reason = sync_off_reason()
    if reason:
        messages.warning(request, reason)


class SyncStateInline(admin.StackedInline):
    model = SyncState
    fields = readonly_fields = STATE_FIELDS
    can_delete = False
    extra = 0
    verbose_name_plural = "marketing sync"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ContactWithMarketingAdmin(ContactAdmin):
    inlines = [*ContactAdmin.inlines, SyncStateInline]


admin.site.unregister(Contact)
admin.site.register(Contact, ContactWithMarketingAdmin)


@admin.register(SyncState)
class SyncStateAdmin(admin.ModelAdmin):
    list_display = [
        "contact", "email", "marketing_status", "pushed_at", "due_at", "error_permanent",
        "short_error",
    ]  # fmt: skip
    list_filter = ["error_permanent", "contact__marketing_status"]
    search_fields = ["email", "contact__first_name", "contact__last_name", "last_error"]
    list_select_related = ["contact"]
    readonly_fields = ["contact", *STATE_FIELDS]
    actions = ["retry", "subscribe", "unsubscribe"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        _warn_when_off(request)
        return super().changelist_view(request, extra_context)

    @admin.display(description="Marketing status")
    def marketing_status(self, obj: SyncState) -> str:
        return obj.contact.get_marketing_status_display()

    @admin.display(description="Error")
    def short_error(self, obj: SyncState) -> str:
        return obj.last_error[:100]

    @admin.action(description="Push the selected contacts again now (clears a refusal)")
    def retry(self, request: HttpRequest, queryset: QuerySet[SyncState]) -> None:
        count = marketing_retry(states=queryset)
        self.message_user(request, f"Queued {count} contact(s).", messages.SUCCESS)

    @admin.action(description="Subscribe: the person asked for marketing email")
    def subscribe(self, request: HttpRequest, queryset: QuerySet[SyncState]) -> None:
        for state in queryset.select_related("contact"):
            marketing_consent_set(contact=state.contact, subscribed=True, actor=request.user)
        self.message_user(request, f"Subscribing {len(queryset)} contact(s).", messages.SUCCESS)

    @admin.action(description="Unsubscribe: the person asked for no marketing email")
    def unsubscribe(self, request: HttpRequest, queryset: QuerySet[SyncState]) -> None:
        for state in queryset.select_related("contact"):
            marketing_consent_set(contact=state.contact, subscribed=False, actor=request.user)
        self.message_user(request, f"Unsubscribing {len(queryset)} contact(s).", messages.SUCCESS)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at", "kind", "status", "progress", "errored", "changed", "finished_at",
    ]  # fmt: skip
    list_filter = ["kind", "status"]
    readonly_fields = [
        "kind", "status", "progress", "total", "done", "errored", "changed", "since", "error",
        "started_at", "submitted_at", "finished_at", "batch_list",
    ]  # fmt: skip
    exclude = ["batches"]
    change_list_template = "admin/marketing/syncrun/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "start-full-sync/",
                self.admin_site.admin_view(require_POST(self.start_full_sync)),
                name="marketing_syncrun_start_full",
            ),
            path(
                "reconcile-now/",
                self.admin_site.admin_view(require_POST(self.reconcile_now)),
                name="marketing_syncrun_reconcile",
            ),
        ]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        _warn_when_off(request)
        context = {**(extra_context or {}), "sync_on": not sync_off_reason()}
        return super().changelist_view(request, context)

    def _back(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:marketing_syncrun_changelist"))

    def start_full_sync(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request) or not request.user.is_superuser:
            messages.error(request, "Only a superuser may start a full sync.")
            return self._back()
        run = marketing_full_sync_start()
        if run is None:
            messages.error(request, sync_off_reason())
        else:
            messages.success(request, f"Full sync {run.pk} started: {run.total} contact(s).")
        return self._back()

    def reconcile_now(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_superuser:
            messages.error(request, "Only a superuser may start a reconciliation.")
            return self._back()
        run = marketing_reconcile()
        if run is None:
            messages.error(request, sync_off_reason())
        elif run.status == SyncRun.Status.FAILED:
            messages.error(request, f"Reconciliation failed: {run.error}")
        else:
            messages.success(
                request, f"Reconciled {run.done} member(s); {run.changed} contact(s) changed."
            )
        return self._back()

    @admin.display(description="Progress")
    def progress(self, obj: SyncRun) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {} / {} ({}%)',
            obj.percent,
            obj.done,
            obj.total,
            obj.percent,
        )

    @admin.display(description="Batches")
    def batch_list(self, obj: SyncRun) -> str:
        rows = [
            f"{b['id']}: {b['status']}, {b['finished']}/{b['total']} operations, "
            f"{len(b['contacts'])} contacts"
            for b in obj.batches
        ]
        return format_html("<pre>{}</pre>", "\n".join(rows) or "none")
