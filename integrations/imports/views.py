"""The import pages: in the manager's app (``/imports/``, their team's imports) and in the
admin (``/admin/imports/importjob/run/``, any team's, for staff who may add imports). Both
are the same views; only who may use them and the team differ.

Upload, then map the columns (the dry run starts in the worker), then the dry run's counts
and failing rows, then start: a progress bar that asks again every second, cancellable;
every row's result as CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from leads.models import Agent, Team
from leads.views import agent_required

from . import fields, services
from .models import ImportJob, ImportRow


@dataclass(frozen=True)
class Place:
    """Where the pages are and whose imports they show."""

    base: str  # the URL prefix of the pages
    jobs: QuerySet[ImportJob]
    team: Team | None  # the team uploads go to (None: chosen on the form, in the admin)
    agent: Agent | None


View = Callable[..., HttpResponseBase]


def for_managers(view: View) -> View:
    @agent_required
    @wraps(view)
    def wrapped(request: HttpRequest, agent: Agent, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not agent.is_manager:
            raise PermissionDenied("Imports are for managers.")
        jobs = ImportJob.objects.filter(team_id=agent.team_id)
        return view(request, Place("/imports/", jobs, agent.team, agent), *args, **kwargs)

    return wrapped


def for_staff(view: View) -> View:
    """For the admin's URLs (wrapped in ``admin_site.admin_view``: signed in, staff, 2FA)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm("imports.add_importjob"):
            raise PermissionDenied("You may not import.")
        place = Place("/admin/imports/importjob/run/", ImportJob.objects.all(), None, None)
        response = view(request, place, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return wrapped


class UploadForm(forms.Form):
    file = forms.FileField(label="CSV or Excel file (.csv, .xlsx)")
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False)


def _job(place: Place, pk: int) -> ImportJob:
    try:
        return place.jobs.defer("content").get(pk=pk)
    except ImportJob.DoesNotExist:
        raise Http404("No such import.") from None


def _context(place: Place, **more: Any) -> dict[str, Any]:
    return {"agent": place.agent, "base": place.base, "nav": "dashboard", **more}


def start_page(request: HttpRequest, place: Place) -> HttpResponse:
    """The team's imports, newest first, and the upload form."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        team = place.team or form.cleaned_data["team"]
        if team is None:
            form.add_error("team", "Choose the team the people are for.")
        else:
            upload = form.cleaned_data["file"]
            try:
                job = services.job_create(
                    team=team, user=request.user, name=upload.name, content=upload.read()
                )
            except services.ImportError_ as error:
                form.add_error("file", str(error))
            else:
                return redirect(f"{place.base}{job.pk}/")
    jobs = place.jobs.defer("content").select_related("team", "created_by")[:20]
    status = 400 if form.errors else 200
    context = _context(place, form=form, jobs=jobs, choose_team=place.team is None)
    return render(request, "imports/start.html", context, status=status)


def job_page(request: HttpRequest, place: Place, pk: int) -> HttpResponse:
    """The import as it stands: its mapping, its dry run, its progress or its result."""
    job = _job(place, pk)
    choices = [("", "— ignore —"), *((f.key, f.label) for f in fields.FIELDS)]
    samples = list(ImportRow.objects.filter(job=job).order_by("number")[:3])
    columns = [
        (i, header, job.fields[i] if i < len(job.fields) else "",
         [row.values[i] if i < len(row.values) else "" for row in samples])
        for i, header in enumerate(job.headers)
    ]  # fmt: skip
    context = _context(
        place, job=job, columns=columns, choices=choices, progress=job.progress(),
        failed=services.failed_rows(job=job), error=request.GET.get("error", ""),
    )  # fmt: skip
    return render(request, "imports/job.html", context)


def progress(request: HttpRequest, place: Place, pk: int) -> HttpResponse:
    """The progress fragment (htmx asks every second while the worker is on it)."""
    job = _job(place, pk)
    response = render(
        request, "imports/_progress.html", _context(place, job=job, progress=job.progress())
    )
    if not job.active:
        response["HX-Refresh"] = "true"  # the phase is over: the whole page changes
    return response


def map_columns(request: HttpRequest, place: Place, pk: int) -> HttpResponse:
    job = _job(place, pk)
    mapping = [request.POST.get(f"column-{i}", "") for i in range(len(job.headers))]
    try:
        services.job_map(
            job=job, mapping=mapping, consent_source=request.POST.get("consent_source", ""),
            route=request.POST.get("route") == "on",
        )  # fmt: skip
    except services.ImportError_ as error:
        known = [m if m in fields.BY_KEY else "" for m in mapping]
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.MAPPING).update(fields=known)
        messages.error(request, str(error))
    return redirect(f"{place.base}{job.pk}/")


def start(request: HttpRequest, place: Place, pk: int) -> HttpResponse:
    try:
        services.job_start(job=_job(place, pk))
    except services.ImportError_ as error:
        messages.error(request, str(error))
    return redirect(f"{place.base}{pk}/")


def cancel(request: HttpRequest, place: Place, pk: int) -> HttpResponse:
    job = services.job_cancel(job=_job(place, pk))
    messages.info(request, f"Cancelled after {job.rows_done} rows; what was imported stays.")
    return redirect(f"{place.base}{pk}/")


def results(request: HttpRequest, place: Place, pk: int) -> StreamingHttpResponse:
    """Every row's result (or the dry run's plan) and its cells, as CSV."""
    job = _job(place, pk)
    response = StreamingHttpResponse(
        services.results_stream(job=job), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-results.csv"'
    return response


def views_for(wrap: Callable[[View], View]) -> dict[str, View]:
    """Every page, wrapped for one place."""
    return {
        "start": wrap(start_page),
        "job": require_GET(wrap(job_page)),
        "progress": require_GET(wrap(progress)),
        "map": require_POST(wrap(map_columns)),
        "run": require_POST(wrap(start)),
        "cancel": require_POST(wrap(cancel)),
        "results": require_GET(wrap(results)),
    }


MANAGER_VIEWS = views_for(for_managers)
STAFF_VIEWS = views_for(for_staff)
