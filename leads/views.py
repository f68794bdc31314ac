"""The agent's app: inbox, lead page, pool, settings and the manager's dashboard.

Every view is a thin caller: reads go through :mod:`leads.selectors` (already limited to
what the user may see), writes through :mod:`leads.services` (which check again). A lead
the user may not see is a 404, exactly like one that does not exist; an action the user may
not take on a lead they can see is a 403. Actions answer htmx with the fragment to swap in,
and anything else with a redirect, so every button also works without JavaScript.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from . import duplicates, exports, extensions, followups, live, selectors, services
from .extensions import SettingsSection
from .forms import (
    AgentSettingsForm,
    ContactLogForm,
    LeadFilterForm,
    NoteForm,
    ReassignForm,
    StatusForm,
    TaskForm,
    display_phone,
)
from .models import Agent, ApiToken, Contact, Lead, PersonMerge, Task, from_short_code
from .routing import zip_facts

PAGE_SIZE = 25
# The most pages a list shows at once (a refresh of page 30 lists pages 21 to 30).
PAGES_SHOWN = 10
View = Callable[..., HttpResponseBase]


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def agent_required(view: View) -> View:
    """Signed in with an active agent profile; staff without one go to the admin.

    Every answer is ``Cache-Control: no-store``: a page the browser keeps would show, on
    Back, a lead as it was (an Accept button already used). Someone not signed in (a
    session that expired with the page open) is sent to sign in and brought back to the
    page they were on, also from an htmx request, whose answer would otherwise be the
    sign-in form swapped into the page.
    """

    @wraps(view)
    def wrapped(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response: HttpResponseBase
        if not request.user.is_authenticated:
            response = _sign_in_first(request)
        elif (agent := selectors.agent_for(request.user)) is not None:
            try:
                response = view(request, agent, *args, **kwargs)
            except LeadMovedOn as gone:
                response = _moved_on(request, agent, gone.moved)
        elif request.user.is_staff:
            response = redirect("admin:index")
        else:
            raise PermissionDenied("This sign-in has no active agent profile.")
        add_never_cache_headers(response)
        return response

    return wrapped


def live_view(view: View) -> View:
    """A page that keeps itself up to date (inside :func:`agent_required`).

    The page carries the ETag of what the agent may see (:func:`leads.live.etag`, read
    before its rows) and ``app.js`` asks for it again every few seconds with
    ``If-None-Match``: the same tag is answered ``304`` at the cost of two cache reads, a
    new one with the fragment to swap in. Only the app's poll sends ``If-None-Match``
    (the pages are ``no-store``, so the browser never does).
    """

    @wraps(view)
    def wrapped(
        request: HtmxHttpRequest, agent: Agent, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response: HttpResponseBase
        tag = live.etag(agent)
        sent = request.headers.get("If-None-Match", "")
        if sent and live.unchanged(sent, tag, now=timezone.now()):
            response = HttpResponse(status=304)
            tag = sent
        else:
            request.live = {"etag": tag, "every": settings.LIVE_POLL_SECONDS}  # type: ignore[attr-defined]
            try:
                response = view(request, agent, *args, **kwargs)
            except LeadMovedOn as gone:
                response = _moved_on(request, agent, gone.moved)
            tag = request.live["etag"]  # type: ignore[attr-defined]
        response["ETag"] = tag
        return response

    return wrapped


def _sign_in_first(request: HtmxHttpRequest) -> HttpResponse:
    """To the sign-in page, and back afterwards to the page the person is looking at: for
    htmx the page in the address bar (the browser follows HX-Redirect), for a form posted
    without JavaScript the page it was posted from."""
    back = request.get_full_path()
    if request.htmx:
        back = request.htmx.current_url_abs_path or reverse("leads:inbox")
    elif request.method != "GET":
        referer = request.headers.get("Referer", "")
        safe = url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        back = _path_of(referer) if referer and safe else reverse("leads:inbox")
    response = redirect_to_login(back)
    if request.htmx:
        return HttpResponseClientRedirect(response["Location"])
    return response


def _path_of(url: str) -> str:
    """``https://host/leads/4/?a=1`` gives ``/leads/4/?a=1``."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class LeadMovedOn(Exception):
    """The lead was the agent's and went on to someone else: say what happened."""

    def __init__(self, moved: selectors.MovedOn) -> None:
        super().__init__(moved.title)
        self.moved = moved


def _moved_on(request: HtmxHttpRequest, agent: Agent, moved: selectors.MovedOn) -> HttpResponse:
    """What an agent sees of a lead that was theirs and went on: on its page (the alert's
    link), and in place of the inbox row or the page they acted from (409: it changed under
    them). A form posted without JavaScript goes on to the lead's page, which says it."""
    context = {"agent": agent, "moved": moved, "nav": "inbox"}
    if not request.htmx:
        if request.method != "GET":
            return redirect("leads:lead", pk=moved.lead_id)
        return render(request, "leads/lead_moved.html", context)
    if (request.htmx.target or "").startswith("row-"):
        return render(request, "leads/_moved_row.html", context, status=409)
    return render(request, "leads/_moved.html", context, status=409)


def _lead_or_404(request: HttpRequest, pk: int) -> Lead:
    """The lead, if the user may see it; ``LeadMovedOn`` if it was theirs; else 404."""
    try:
        return selectors.lead_get(user=request.user, pk=pk)
    except Lead.DoesNotExist:
        moved = selectors.lead_moved_on(user=request.user, pk=pk)
        if moved is not None:
            raise LeadMovedOn(moved) from None
        raise Http404("No such lead.") from None


def _page(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 1000))
    except ValueError:
        return 1


def _rows(request: HtmxHttpRequest, leads: Any) -> tuple[list[Lead], int | None]:
    """The rows down to ``?page=N``, and the next page's number (None on the last).

    "More" asks for page N alone (htmx target ``more``) and puts ``page=N`` in the address
    bar; every other answer (the live refresh, a reload, a page without JavaScript) lists the
    pages before it too, at most :data:`PAGES_SHOWN` of them, so a refresh keeps the agent
    where they are in the list.
    """
    page = _page(request)
    alone = bool(request.htmx) and request.htmx.target == "more"
    first = page if alone else max(1, page - PAGES_SHOWN + 1)
    start, end = (first - 1) * PAGE_SIZE, page * PAGE_SIZE
    rows = list(leads[start : end + 1])
    return rows[: end - start], page + 1 if len(rows) > end - start else None


def _filters(request: HttpRequest, agent: Agent) -> tuple[LeadFilterForm, selectors.LeadFilters]:
    """The list's filters from the query string; a bad value is left out (the form's
    ``errors`` say which), the others still apply. A day in ``from`` or ``to`` is the
    agent's day, in their time zone, ``to`` included; a moment is taken as it is."""
    form = LeadFilterForm(request.GET or None)
    data: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # a bad value is left out of cleaned_data; the others stay
        data = form.cleaned_data
    mine = not agent.is_manager or data.get("mine", False)
    zone = followups.agent_zone(agent)
    start, end = data.get("from"), data.get("to")
    if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
        start = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
    if isinstance(end, dt.date) and not isinstance(end, dt.datetime):
        end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    who = data.get("agent", "")
    filters = selectors.LeadFilters(
        status=data.get("status", ""),
        source=data.get("source", ""),
        lead_type=data.get("lead_type", ""),
        q=data.get("q", ""),
        scope="mine" if mine else "",
        agent_id=int(who) if who.isdigit() else None,
        unassigned=who == "none",
        stage=data.get("stage", ""),
        received_from=start,
        received_to=end,
    )
    return form, filters


def _left_out(form: LeadFilterForm) -> str:
    """What of the query string the list could not use, and why, in a sentence."""
    if not form.is_bound or not form.errors:
        return ""
    said = "; ".join(
        f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in form.errors.items()
    )
    return f"Left out of this list: {said}"


@require_GET
@agent_required
@live_view
def inbox(request: HtmxHttpRequest, agent: Agent) -> HttpResponse:
    """New and offered leads first, with their deadlines; then accepted ones; then the rest.
    One row per person (their latest inquiry, or the one waiting for them), or with
    ``each=inquiry`` one row per lead."""
    form, filters = _filters(request, agent)
    each_inquiry = form.is_bound and form.cleaned_data.get("each") == "inquiry"
    select = selectors.lead_list if each_inquiry else selectors.people_list
    rows, next_page = _rows(request, select(user=request.user, filters=filters))
    selectors.inquiry_counts(user=request.user, leads=rows)
    extensions.marks_for(agent=agent, leads=rows)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "agent": agent,
        "form": form,
        "rows": rows,
        "next_page": next_page,
        "query": query.urlencode(),
        "sources": selectors.lead_sources(user=request.user),
        "filtered": any(filters.__dict__[k] for k in FILTERED),
        "narrowed": _narrowed(request, agent, filters),
        "left_out": _left_out(form),
        "now": timezone.now(),
        "nav": "inbox",
    }
    if request.htmx and request.htmx.target in ("lead-list", "more"):
        return render(request, "leads/_lead_list.html", context)
    return render(request, "leads/inbox.html", context)


FILTERED = (
    "status", "source", "lead_type", "q", "agent_id", "unassigned", "stage", "received_from",
    "received_to",
)  # fmt: skip
# The dashboard's narrowing, kept through the inbox's own filters (hidden fields).
NARROWING = ("agent", "stage", "from", "to")


def _narrowed(request: HttpRequest, agent: Agent, filters: selectors.LeadFilters) -> dict[str, Any]:
    """The dashboard's narrowing of the list, in words, with the values to keep."""
    words = []
    if filters.agent_id is not None:
        named = Agent.objects.filter(pk=filters.agent_id, team_id=agent.team_id).values_list(
            "display_name", flat=True
        )
        words.append(f"assigned to {named.first() or 'agent ' + str(filters.agent_id)}")
    elif filters.unassigned:
        words.append("assigned to nobody")
    if filters.stage:
        words.append(f"got as far as {filters.stage.replace('_', ' ')}")
    if filters.received_from or filters.received_to:
        start = filters.received_from and timezone.localtime(filters.received_from)
        end = filters.received_to and timezone.localtime(filters.received_to)
        words.append(
            "received"
            + (f" from {start:%b %-d, %Y %H:%M}" if start else "")
            + (f" until {end:%b %-d, %Y %H:%M}" if end else "")
        )
    keep = {name: request.GET[name] for name in NARROWING if words and request.GET.get(name)}
    clear = request.GET.copy()
    for name in (*NARROWING, "page"):
        clear.pop(name, None)
    return {"words": ", ".join(words), "keep": keep, "clear": clear.urlencode()}


@require_GET
@agent_required
def export(request: HttpRequest, agent: Agent, what: str, format: str) -> HttpResponseBase:
    """The inbox's leads, or their people, with the list's filters, as a CSV or XLSX file
    streamed as it is read: a manager's team, an agent's own (never the pool's)."""
    if format not in exports.CONTENT_TYPES:
        raise Http404("No such format.")
    _form, filters = _filters(request, agent)
    if what == "leads":
        queryset: Any = selectors.export_leads(user=request.user, filters=filters)
        columns: tuple[exports.Column, ...] = exports.LEAD_COLUMNS
    elif what == "people":
        queryset = selectors.export_people(user=request.user, filters=filters)
        columns = exports.PERSON_COLUMNS
    else:
        raise Http404("Nothing to export by that name.")
    name = f"{what}-{timezone.localdate():%Y-%m-%d}.{format}"
    response = StreamingHttpResponse(
        exports.export_stream(queryset, columns, format=format, sheet=what.title()),
        content_type=exports.CONTENT_TYPES[format],
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@agent_required
@live_view
def pool(request: HtmxHttpRequest, agent: Agent) -> HttpResponse:
    """The team's unassigned leads, oldest waiting first, each claimable in one tap."""
    rows, next_page = _rows(request, selectors.pool_list(user=request.user))
    selectors.inquiry_counts(user=request.user, leads=rows)
    context = {
        "agent": agent,
        "rows": rows,
        "next_page": next_page,
        "query": "",
        "now": timezone.now(),
        "nav": "pool",
    }
    if request.htmx and request.htmx.target in ("lead-list", "more"):
        return render(request, "leads/_lead_list.html", context)
    return render(request, "leads/pool.html", context)


def _lead_context(request: HttpRequest, agent: Agent, lead: Lead) -> dict[str, Any]:
    access = selectors.lead_access(user=request.user, lead=lead)
    timeline = selectors.lead_timeline(lead=lead)
    return {
        "agent": agent,
        "lead": lead,
        "contact": lead.contact,
        "place": _place(lead),
        "phone_display": display_phone(lead.contact.phone),
        "access": access,
        "timeline": timeline,
        "speed": selectors.lead_speed(lead, timeline),
        "related": list(selectors.lead_related(user=request.user, lead=lead)),
        "status_form": StatusForm(initial={"status": lead.status}),
        "note_form": NoteForm(),
        "contact_form": ContactLogForm(),
        "reassign_form": ReassignForm(agents=selectors.team_agents(user=request.user))
        if access.reassign
        else None,
        "tasks": selectors.lead_tasks(user=request.user, lead=lead),
        "task_kinds": Task.Kind.choices,
        "quick_picks": followups.quick_picks(agent, timezone.now()) if access.work else [],
        "agent_zone": followups.agent_zone(agent),
        "panels": extensions.lead_panels_for(request=request, agent=agent, lead=lead),
        "now": timezone.now(),
        "nav": "inbox",
    }


def _place(lead: Lead) -> str:
    """Where the property is, the city and state filled in from the ZIP when not given."""
    city, _, state = zip_facts(lead.property_zip) if lead.property_zip else ("", "", "")
    city, state = lead.property_city or city, lead.property_state or state
    town = ", ".join(part for part in (city, state) if part)
    return " ".join(part for part in (town, lead.property_zip) if part)


@require_GET
@agent_required
@live_view
def lead_detail(request: HtmxHttpRequest, agent: Agent, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    context = _lead_context(request, agent, lead)
    if request.htmx and request.htmx.target == "lead-body":
        return render(request, "leads/_lead_body.html", context)
    return render(request, "leads/lead_detail.html", context)


@require_GET
@agent_required
def person(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """One page per person: whose they are now, every inquiry of theirs the user may see, and
    one timeline of them all (calls, texts, notes, routing, alerts)."""
    try:
        found = selectors.person_get(user=request.user, pk=pk)
    except Contact.DoesNotExist:
        raise Http404("No such person.") from None
    latest = found.latest
    access = selectors.lead_access(user=request.user, lead=latest)
    context = {
        "agent": agent,
        "person": found,
        "contact": found.contact,
        "lead": latest,
        "access": access,
        "phone_display": display_phone(found.contact.phone),
        "now": timezone.now(),
        "nav": "inbox",
    }
    return render(request, "leads/person.html", context)


@require_GET
def short_link(request: HttpRequest, code: str) -> HttpResponse:
    """``/l/<code>/``, the short link in an SMS alert: on to the lead's page, which checks
    who may see it (and asks for a sign-in first)."""
    pk = from_short_code(code)
    if pk is None:
        raise Http404("No such lead.")
    return redirect("leads:lead", pk=pk)


def _after_action(
    request: HtmxHttpRequest, agent: Agent, lead: Lead, *, status: int = 200
) -> HttpResponse:
    """What an action answers: for htmx the inbox row or the lead page's body to swap in,
    otherwise a redirect to the lead page (or the inbox when the lead is no longer visible).
    The lead page's body carries the page's new ETag (read before it), so its next poll is
    a 304 rather than the same body again."""
    tag = live.etag(agent) if request.htmx and request.htmx.target == "lead-body" else ""
    try:
        fresh: Lead | None = selectors.lead_get(user=request.user, pk=lead.pk)
    except Lead.DoesNotExist:
        fresh = None
    if not request.htmx:
        return redirect("leads:inbox") if fresh is None else redirect("leads:lead", pk=lead.pk)
    if (request.htmx.target or "").startswith("row-"):
        if fresh is not None:
            selectors.inquiry_counts(user=request.user, leads=[fresh])
        context = {
            "lead": fresh or lead,
            "agent": agent,
            "gone": fresh is None,
            "now": timezone.now(),
        }
        return render(request, "leads/_lead_row.html", context, status=status)
    if fresh is None:
        return HttpResponseClientRedirect(reverse("leads:inbox"))
    context = _lead_context(request, agent, fresh)
    response = render(request, "leads/_lead_body.html", context, status=status)
    if tag:
        response["ETag"] = tag
    return response


@require_POST
@agent_required
def lead_accept(request: HtmxHttpRequest, agent: Agent, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    access = selectors.lead_access(user=request.user, lead=lead)
    if access.claim:
        return _claim(request, agent, lead)
    if not access.accept and lead.assigned_agent_id == agent.pk:
        # A second tap, or a tap on a page from before (Back): it is accepted, say so.
        messages.info(request, "Already accepted.")
        return _after_action(request, agent, lead)
    if not access.accept:
        raise PermissionDenied("Only the agent it is assigned to can accept this lead.")
    if services.lead_accept(lead=lead, agent=agent):
        messages.success(request, "Accepted. The clock has stopped.")
    return _after_action(request, agent, lead)


@require_POST
@agent_required
def lead_claim(request: HtmxHttpRequest, agent: Agent, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    if not selectors.lead_access(user=request.user, lead=lead).claim:
        raise PermissionDenied("This lead cannot be claimed.")
    return _claim(request, agent, lead)


def _claim(request: HtmxHttpRequest, agent: Agent, lead: Lead) -> HttpResponse:
    result = services.lead_claim(lead=lead, agent=agent)
    if result.won:
        messages.success(request, "It's yours. The clock has stopped.")
        return _after_action(request, agent, lead)
    holder = result.holder or "another agent"
    messages.warning(request, f"Too late: {holder} already has this lead.")
    return _after_action(request, agent, lead, status=409)


@require_POST
@agent_required
def lead_status(request: HtmxHttpRequest, agent: Agent, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        return _bad_request(request, form)
    services.lead_set_status(lead=lead, agent=agent, status=form.cleaned_data["status"])
    messages.success(request, f"Moved to {lead.get_status_display()}.")
    return _after_action(request, agent, lead)


@require_POST
@agent_required
def lead_note(request: HtmxHttpRequest, agent: Agent, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _bad_request(request, form)
    services.lead_add_note(lead=lead, agent=agent, text=form.cleaned_data["text"])
    messages.success(request, "Note added.")
    return _after_action(request, agent, lead)


@require_POST
@agent_required
def lead_contact(request: HtmxHttpRequest, agent: Agent, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    form = ContactLogForm(request.POST)
    if not form.is_valid():
        return _bad_request(request, form)
    how, outcome = form.cleaned_data["how"], form.cleaned_data["outcome"]
    services.lead_log_contact(lead=lead, agent=agent, how=how, outcome=outcome)
    said = services.CALL_OUTCOMES.get(outcome, "").lower()
    messages.success(request, f"Logged a call: {said}." if outcome else f"Logged a {how}.")
    return _after_action(request, agent, lead)


@require_POST
@agent_required
def lead_reassign(request: HtmxHttpRequest, agent: Agent, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    if not selectors.lead_access(user=request.user, lead=lead).reassign:
        raise PermissionDenied("Only the team's manager may reassign its leads.")
    form = ReassignForm(request.POST, agents=selectors.team_agents(user=request.user))
    if not form.is_valid():
        return _bad_request(request, form)
    target = form.cleaned_data["agent"]
    services.lead_reassign(
        lead=lead, manager=agent, agent=target, reason=form.cleaned_data["reason"]
    )
    messages.success(request, f"Reassigned to {target}.")
    return _after_action(request, agent, lead)


@require_POST
@agent_required
def lead_follow_up(request: HtmxHttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """Set a follow-up: a kind and a quick pick (two taps), or a date and time."""
    lead = _lead_or_404(request, pk)
    if not selectors.lead_access(user=request.user, lead=lead).work:
        raise PermissionDenied("Only the lead's agent or the team's manager may set follow-ups.")
    form = TaskForm(request.POST, agent=agent, now=timezone.now())
    if not form.is_valid() or "due_at" not in form.cleaned_data:
        return _bad_request(request, form)
    data = form.cleaned_data
    task = services.task_create(
        lead=lead,
        agent=agent,
        kind=data["kind"],
        due_at=data["due_at"],
        location=data.get("location", ""),
        note=data.get("note", ""),
    )
    local = timezone.localtime(task.due_at, followups.agent_zone(agent))
    messages.success(
        request, f"Follow-up set: {task.get_kind_display().lower()} {local:%a %b %-d, %-H:%M}."
    )
    return _after_action(request, agent, lead)


@require_POST
@agent_required
def task_finish(request: HtmxHttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """Mark a follow-up done (or, with ``status=canceled``, drop it); back to where it was
    tapped: the lead page or Today."""
    try:
        task = selectors.task_for(user=request.user, pk=pk)
    except Task.DoesNotExist:
        raise Http404("No such follow-up.") from None
    status = request.POST.get("status", Task.Status.DONE)
    if status not in (Task.Status.DONE, Task.Status.CANCELED):
        return HttpResponse("Not saved. status: done or canceled.", status=400)
    services.task_finish(task=task, agent=agent, status=status)
    messages.success(request, "Done." if status == Task.Status.DONE else "Follow-up dropped.")
    if request.POST.get("next") == "today":
        return redirect("leads:today") if not request.htmx else _today(request, agent)
    return _after_action(request, agent, task.lead)


@require_GET
@agent_required
@live_view
def today(request: HtmxHttpRequest, agent: Agent) -> HttpResponse:
    """The agent's home: follow-ups overdue and due today, and the leads waiting for them.
    Live: its tag holds until a follow-up on it falls due or the day ends."""
    return _today(request, agent)


def _today(request: HtmxHttpRequest, agent: Agent) -> HttpResponse:
    now = timezone.now()
    day = selectors.today(user=request.user, now=now)
    if hasattr(request, "live"):
        request.live["etag"] = live.etag_until(request.live["etag"], day.changes_at)
    context = {
        "agent": agent,
        "day": day,
        "agent_zone": followups.agent_zone(agent),
        "now": now,
        "nav": "today",
    }
    if request.htmx and request.htmx.target == "today":
        return render(request, "leads/_today.html", context)
    return render(request, "leads/today.html", context)


@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The agent's private calendar (``/calendar/<token>.ics``): their follow-ups and
    showings, for a phone's calendar to subscribe to. The secret in the address is the only
    key; an unknown one is a 404."""
    found = selectors.calendar_tasks(token=token)
    if found is None:
        raise Http404("No such calendar.")
    owner, tasks = found
    now = timezone.now()
    host = urlsplit(settings.SITE_URL).hostname or "leadline"
    events = []
    for task in tasks:
        contact = task.lead.contact
        name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
        facts = [task.note, display_phone(contact.phone) if contact.phone else "", contact.email]
        events.append(
            followups.CalendarEvent(
                uid=f"task-{task.pk}@{host}",
                start=task.due_at,
                minutes=task.duration_minutes,
                summary=services.task_title(task, name),
                description="\n".join(f for f in facts if f),
                location=task.location,
                url=settings.SITE_URL + reverse("leads:lead", args=[task.lead_id]),
                done=task.status == Task.Status.DONE,
                changed=task.updated_at,
            )
        )
    body = followups.calendar(f"Leadline: {owner.display_name}", events, now)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="leadline.ics"'
    add_never_cache_headers(response)
    return response


@require_POST
@agent_required
def calendar_settings(request: HttpRequest, agent: Agent) -> HttpResponse:
    """Make a new calendar feed address (the old one stops working) or turn the feed off."""
    if request.POST.get("calendar") == "off":
        services.calendar_token_revoke(agent=agent)
        messages.success(request, "Calendar feed turned off.")
    else:
        services.calendar_token_renew(agent=agent)
        messages.success(request, "New calendar address made; the old one no longer works.")
    return redirect(reverse("leads:settings") + "#calendar")


def _bad_request(request: HttpRequest, form: Any) -> HttpResponse:
    errors = "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items())
    return HttpResponse(f"Not saved. {errors}", status=400, content_type="text/plain")


@require_POST
@agent_required
def pause(request: HtmxHttpRequest, agent: Agent) -> HttpResponse:
    """The header's one-tap "Pause my leads": ``paused=on`` or ``off`` (a state, not a flip,
    so a second tap of the same button changes nothing). Always the signed-in agent's own."""
    paused = request.POST.get("paused", "")
    if paused not in ("on", "off"):
        return HttpResponse("Not saved. paused: on or off.", status=400, content_type="text/plain")
    services.agent_update_settings(agent=agent, actor=agent, is_paused=paused == "on")
    if agent.is_paused:
        messages.success(request, "Paused: no new leads come to you until you resume.")
    else:
        messages.success(request, "Resumed: new leads come to you again.")
    if request.htmx:
        return render(request, "leads/_pause.html", {"agent": agent})
    referer = request.headers.get("Referer", "")
    safe = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(_path_of(referer) if referer and safe else reverse("leads:inbox"))


@agent_required
def agent_settings(request: HttpRequest, agent: Agent) -> HttpResponse:
    """The agent's own settings: phone, pause, time zone, working hours, alerts; API tokens."""
    new_token = ""
    saving = request.method == "POST" and not API_TOKEN_FIELDS & set(request.POST)
    if request.method == "POST" and not saving:
        new_token = _api_tokens_post(request, agent)
        if not new_token:
            return redirect("leads:settings")
    data = request.POST if saving else None
    form = AgentSettingsForm(data, agent=agent)
    sections = _settings_sections(agent, data)
    if saving and form.is_valid() and all(f.is_valid() for _, f in sections):
        with transaction.atomic():
            labels = [label for section, f in sections for label in section.save(f, agent, agent)]
            services.agent_update_settings(
                agent=agent, actor=agent, also_changed=labels, **form.changes()
            )
        messages.success(request, "Settings saved.")
        return redirect("leads:settings")
    context = {
        "agent": agent,
        "form": form,
        "days": [
            (label, form[f"{day}_off"], form[f"{day}_start"], form[f"{day}_end"])
            for day, label in WEEKDAYS
        ],
        "sections": [(section.title, list(section_form)) for section, section_form in sections],
        "panels": [(panel.template, panel.context(agent)) for panel in extensions.settings_panels],
        "api_tokens": ApiToken.objects.filter(user_id=agent.user_id, revoked_at__isnull=True),
        "calendar_url": settings.SITE_URL + reverse("leads:calendar", args=[agent.calendar_token])
        if agent.calendar_token
        else "",
        "new_token": new_token,
        "nav": "settings",
    }
    invalid = form.errors or any(section_form.errors for _, section_form in sections)
    response = render(request, "leads/settings.html", context, status=400 if invalid else 200)
    if new_token:
        add_never_cache_headers(response)  # the token is shown this once
    return response


def _settings_sections(agent: Agent, data: Any) -> list[tuple[SettingsSection, Any]]:
    """The sections the edges add to the settings page (``leads.extensions``), with their
    forms, bound to ``data`` when it is given."""
    return [(section, section.form(agent, data)) for section in extensions.settings_sections]


API_TOKEN_FIELDS = {"token_name", "revoke_token"}


def _api_tokens_post(request: HttpRequest, agent: Agent) -> str:
    """Make an API token (returned, to show once) or revoke one of the user's own."""
    if "revoke_token" in request.POST:
        pk = request.POST["revoke_token"]
        token = ApiToken.objects.filter(user_id=agent.user_id, pk=pk if pk.isdigit() else 0).first()
        if token is not None:
            services.api_token_revoke(token=token, user=agent.user)
            messages.success(request, f"Revoked the token “{token.name}”.")
        return ""
    try:
        return services.api_token_create(user=agent.user, name=request.POST["token_name"])[1]
    except ValueError as exc:
        messages.error(request, str(exc).partition(": ")[2])
        return ""


@require_GET
@agent_required
def dashboard(request: HttpRequest, agent: Agent) -> HttpResponseBase:
    """The manager's figures over 7, 30 or 90 days, with charts drawn on the server."""
    if not agent.is_manager:
        raise PermissionDenied("The dashboard is for managers.")
    try:
        days = int(request.GET.get("days", "30"))
    except ValueError:
        days = 30
    since = until = None
    start, end = request.GET.get("from", ""), request.GET.get("to", "")
    if start or end:
        try:
            first = dt.date.fromisoformat(start)
            last = dt.date.fromisoformat(end) if end else timezone.localdate()
        except ValueError:
            return HttpResponse(
                "Not shown. from, to: dates as YYYY-MM-DD.", status=400, content_type="text/plain"
            )
        if last < first or (last - first).days > 366 * 3:
            return HttpResponse(
                "Not shown. to: a date on or after from, at most three years later.",
                status=400,
                content_type="text/plain",
            )
        zone = followups.agent_zone(agent)
        since = dt.datetime.combine(first, dt.time(0), tzinfo=zone)
        until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    now = timezone.now()
    board = selectors.dashboard(user=request.user, days=days, now=now, since=since, until=until)
    assert board is not None
    if request.GET.get("export") == "conversion":
        return _conversion_csv(board)
    # Every figure links to the leads behind it: the list, one row per inquiry, narrowed to
    # the period as the dashboard read it (a custom range's days, or the moments since and
    # now) and to the figure's group and stage.
    period = {"from": start, "to": end or f"{timezone.localdate():%Y-%m-%d}"} if since else {
        "from": _moment(board.since), "to": _moment(now)
    }  # fmt: skip

    def leads_of(**narrow: str) -> str:
        return reverse("leads:inbox") + "?" + urlencode({"each": "inquiry", **period, **narrow})

    def group(by: str, key: str) -> dict[str, str]:
        return {"agent": key or "none"} if by == "agent" else {"source": key}

    def conversion(by: str, rows: list[selectors.Conversion]) -> list[dict[str, Any]]:
        return [
            {
                "row": c,
                "received": leads_of(**group(by, c.key)),
                "appointment": leads_of(**group(by, c.key), stage="appointment"),
                "won": leads_of(**group(by, c.key), stage="won"),
            }
            for c in rows
        ]

    def speeds(by: str, rows: list[selectors.Speed]) -> list[dict[str, Any]]:
        return [{**_speed_row(speed), "link": leads_of(**group(by, speed.key))} for speed in rows]

    source_chart = bar_chart(board.by_source)
    for bar in source_chart["bars"]:
        bar["href"] = leads_of(source=bar["label"])
    funnel_chart = bar_chart(board.funnel)
    for bar, key in zip(funnel_chart["bars"], selectors.STAGE_KEYS, strict=True):
        bar["href"] = leads_of(stage=key)
    week_chart = column_chart([(f"{w:%b %d}", n) for w, n in board.by_week])
    last = min(board.until or now, now)
    for column, (week, _n) in zip(week_chart["columns"], board.by_week, strict=True):
        # A week as the database counts it (from Monday 00:00 here), within the period.
        monday = timezone.make_aware(dt.datetime.combine(week, dt.time(0)))
        sunday = timezone.make_aware(dt.datetime.combine(week + dt.timedelta(days=7), dt.time(0)))
        span = {"from": _moment(max(monday, board.since)), "to": _moment(min(sunday, last))}
        column["href"] = reverse("leads:inbox") + "?" + urlencode({"each": "inquiry", **span})
        column["name"] = f"Week of {week:%b %-d}"

    return render(
        request,
        "leads/dashboard.html",
        {
            "agent": agent,
            "board": board,
            "overall": {**_speed_row(board.speed_overall), "link": leads_of()},
            "by_agent": speeds("agent", board.speed_by_agent),
            "by_source": speeds("source", board.speed_by_source),
            "conversion_by_agent": conversion("agent", board.conversion_by_agent),
            "conversion_by_source": conversion("source", board.conversion_by_source),
            "periods": selectors.PERIODS,
            "source_chart": source_chart,
            "week_chart": week_chart,
            "funnel_chart": funnel_chart,
            "range_from": f"{timezone.localtime(board.since):%Y-%m-%d}",
            "range_to": f"{timezone.localtime(board.until - dt.timedelta(days=1)):%Y-%m-%d}"
            if board.until
            else f"{timezone.localdate():%Y-%m-%d}",
            "query": request.GET.urlencode(),
            "now": timezone.now(),
            "nav": "dashboard",
        },
    )


def _moment(at: dt.datetime) -> str:
    """``at`` as the lead list's ``from`` and ``to`` take a moment: ISO 8601 in UTC."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _conversion_csv(board: selectors.Dashboard) -> StreamingHttpResponse:
    """The dashboard's conversion tables (per agent, per source) as one CSV."""
    rows = [
        [group, c.label, c.received, c.appointment, c.won, c.to_appointment, c.to_won]
        for group, table in (
            ("agent", board.conversion_by_agent),
            ("source", board.conversion_by_source),
        )
        for c in table
    ]
    headers = ["by", "name", "received", "appointment", "won", "to appointment", "to won"]
    response = StreamingHttpResponse(
        exports.csv_stream(headers, rows), content_type="text/csv; charset=utf-8"
    )
    last = board.until or timezone.now()
    response["Content-Disposition"] = (
        f'attachment; filename="conversion-{board.since:%Y-%m-%d}-{last:%Y-%m-%d}.csv"'
    )
    return response


def duration(value: dt.timedelta | None) -> str:
    """A span as a person reads it: "45s", "3m 07s", "2h 05m", "3d 4h"; an em dash for none."""
    if value is None:
        return "\u2014"
    seconds = int(value.total_seconds())
    minutes, hours = seconds // 60, seconds // 3600
    if seconds < 60:
        return f"{seconds}s"
    if minutes < 60:
        return f"{minutes}m {seconds % 60:02d}s"
    if hours < 48:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def _speed_row(speed: selectors.Speed) -> dict[str, Any]:
    return {
        "label": speed.label,
        "leads": speed.leads,
        "accept_median": duration(speed.to_accept_median),
        "accept_p90": duration(speed.to_accept_p90),
        "contact_median": duration(speed.to_contact_median),
        "contact_p90": duration(speed.to_contact_p90),
    }


# --- Charts: geometry computed here, drawn as inline SVG by the templates ------------------


def bar_chart(items: list[tuple[str, int]], width: int = 320, row: int = 28) -> dict[str, Any]:
    """Horizontal bars, one per (label, value): label above, bar and value below."""
    top = max((value for _, value in items), default=0) or 1
    bars = []
    for index, (label, value) in enumerate(items):
        length = round((width - 48) * value / top)
        bar = {"label": label, "value": value, "y": index * row, "width": max(length, bool(value))}
        bars.append(bar)
    return {"width": width, "height": max(row * len(items), row), "bars": bars, "row": row}


def column_chart(
    items: list[tuple[str, int]], width: int = 320, height: int = 140
) -> dict[str, Any]:
    """Vertical columns, one per (label, value), with every other label under the axis."""
    top = max((value for _, value in items), default=0) or 1
    slot = width / max(len(items), 1)
    plot = height - 34
    columns = []
    for index, (label, value) in enumerate(items):
        size = round(plot * value / top)
        columns.append(
            {
                "label": label if len(items) <= 6 or index % max(1, len(items) // 6) == 0 else "",
                "value": value,
                "x": round(index * slot + (slot - min(slot * 0.7, 36)) / 2, 1),
                "y": 14 + plot - size,
                "width": round(min(slot * 0.7, 36), 1),
                "height": size,
                "text_x": round(index * slot + slot / 2, 1),
            }
        )
    return {"width": width, "height": height, "columns": columns, "axis": 14 + plot}


WEEKDAYS = (
    ("mon", "Mon"), ("tue", "Tue"), ("wed", "Wed"), ("thu", "Thu"), ("fri", "Fri"),
    ("sat", "Sat"), ("sun", "Sun"),
)  # fmt: skip


# --- Duplicates (managers) -------------------------------------------------------------------


def _manager(agent: Agent) -> None:
    if not agent.is_manager:
        raise PermissionDenied("Duplicates are for managers.")


@require_GET
@agent_required
def duplicates_page(request: HttpRequest, agent: Agent) -> HttpResponse:
    """The team's people who look the same, each pair mergeable in one step; the merges of
    the last day, each undoable."""
    _manager(agent)
    merges = PersonMerge.objects.filter(team_id=agent.team_id).select_related("survivor")[:20]
    context = {
        "agent": agent,
        "pairs": duplicates.duplicates_find(team_id=agent.team_id),
        "merges": [(m, duplicates.undoable(m)) for m in merges],
        "nav": "dashboard",
    }
    return render(request, "leads/duplicates.html", context)


@require_POST
@agent_required
def people_merge(request: HttpRequest, agent: Agent) -> HttpResponse:
    _manager(agent)
    people = Contact.objects.filter(
        pk__in=[_int(request.POST.get("survivor")), _int(request.POST.get("other"))]
    ).in_bulk()
    survivor = people.get(_int(request.POST.get("survivor")))
    other = people.get(_int(request.POST.get("other")))
    if survivor is None or other is None:
        raise Http404("No such person.")
    try:
        duplicates.people_merge(
            team_id=agent.team_id, survivor=survivor, other=other, actor=request.user,
            reason=request.POST.get("reason", "")[:200],
        )  # fmt: skip
    except ValueError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Merged {other} into {survivor}. You can undo it for a day.")
    return redirect("leads:duplicates")


@require_POST
@agent_required
def people_unmerge(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    _manager(agent)
    merge = PersonMerge.objects.filter(team_id=agent.team_id, pk=pk).first()
    if merge is None:
        raise Http404("No such merge.")
    try:
        restored = duplicates.people_unmerge(merge=merge, actor=request.user)
    except ValueError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{restored} is a person of their own again.")
    return redirect("leads:duplicates")


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None
