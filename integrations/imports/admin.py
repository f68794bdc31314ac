"""Imports in the admin: the list of every team's imports, and the same import pages as the
manager's (upload with a team to choose, map, dry run, progress) under the admin's sign-in."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import URLPattern, path
from django.utils.html import format_html

from .models import ImportJob, ImportMapping
from .views import STAFF_VIEWS


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["file_name", "team", "status", "total_rows", "rows_done", "created_by",
                    "created_at", "page"]  # fmt: skip
    list_filter = ["status", "team"]
    readonly_fields = ["team", "created_by", "file_name", "format", "headers", "fields",
                       "consent_source", "route", "status", "total_rows", "rows_done", "planned",
                       "counts", "error", "created_at", "started_at", "finished_at",
                       "heartbeat_at", "page"]  # fmt: skip
    exclude = ["content"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("content")

    @admin.display(description="Import page")
    def page(self, job: ImportJob) -> str:
        return format_html('<a href="/admin/imports/importjob/run/{}/">Open</a>', job.pk)

    def add_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Adding an import is uploading a file, on the import pages."""
        return HttpResponseRedirect("/admin/imports/importjob/run/")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        from .urls import patterns

        wrapped = {name: self.admin_site.admin_view(view) for name, view in STAFF_VIEWS.items()}
        runs = [
            path(str(p.pattern), p.callback, name=f"imports_run_{p.name}")
            for p in patterns(wrapped, "run/")
        ]
        return runs + super().get_urls()


@admin.register(ImportMapping)
class ImportMappingAdmin(admin.ModelAdmin):
    list_display = ["__str__", "team", "updated_at"]
    list_filter = ["team"]
