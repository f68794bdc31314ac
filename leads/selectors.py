"""Reads of the domain, already limited to what the asking user may see.

Views and the REST API read through these and nothing else, so the rule of who sees what
lives in one place: an agent sees the leads assigned to them, the leads offered to them and
their team's pool; a manager sees every lead of their team; anyone without an active agent
profile sees nothing (staff work in the admin). Every function runs a fixed number of
queries, whatever the number of leads.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import TruncWeek
from django.db.models.query import EmptyQuerySet
from django.utils import dateformat, timezone

from .extensions import DashboardPanel, TimelineEntry, dashboard_panels, timeline_entries
from .models import (
    DEFAULT_SLA_MINUTES,
    INBOX_GROUP,
    Activity,
    Agent,
    Consent,
    Contact,
    Integration,
    IntegrationUser,
    Lead,
    LeadOffer,
    RoutingDecision,
    Task,
)
from .normalize import fold

CLOSED_STATUSES = (Lead.Status.CLOSED_WON, Lead.Status.CLOSED_LOST)
# What a row of a list shows: narrower rows sort faster on a big team.
ROW_FIELDS = (
    "public_id", "contact_id", "team_id", "source", "lead_type", "message", "property_address",
    "property_city", "property_state", "property_zip", "price", "status", "assigned_agent_id",
    "sla_due_at", "received_at", "updated_at", "accepted_at", "first_contact_at",
    "contact__first_name", "contact__last_name", "contact__email", "contact__phone",
    "assigned_agent__display_name", "assigned_agent__user_id",
)  # fmt: skip
PERIODS = (7, 30, 90)
DECISION_FIELDS = (
    "lead_id", "kind", "mode", "offered_to", "matched", "skipped", "reason", "created_at",
    "agent__display_name", "rule__name",
)  # fmt: skip
MODE_WORDS = {
    "round_robin": "picked in turn (round robin)",
    "weighted": "picked by weighted shares",
    "least_loaded": "picked as the agent with the fewest open leads",
    "first_to_claim": "offered to every free agent at once",
    "pool": "it sends its leads to the team pool",
}
SKIP_WORDS = {
    "inactive": "inactive",
    "paused": "paused",
    "off hours": "outside working hours",
    "at daily capacity": "at their daily limit",
    "already tried": "had it already",
}
# A search naming at most this many people takes their leads by id (see _matching).
SEARCH_PEOPLE = 1000


@dataclass(frozen=True)
class LeadFilters:
    """What a list is narrowed to. ``scope``: "" all I may see, "mine" assigned or offered to
    me, "pool" the team's unassigned leads. ``status`` is a status, "open" or "closed"."""

    status: str = ""
    source: str = ""
    lead_type: str = ""
    q: str = ""
    scope: str = ""
    # What the dashboard's figures count (each of its links lists exactly those leads): the
    # assigned agent (``unassigned``: nobody), how far the lead got (a key of STAGE_KEYS, as
    # the funnel counts it) and when it was received (``received_to`` excluded).
    agent_id: int | None = None
    unassigned: bool = False
    stage: str = ""
    received_from: dt.datetime | None = None
    received_to: dt.datetime | None = None


def agent_for(user: AbstractBaseUser | AnonymousUser) -> Agent | None:
    """The active agent profile of an active, signed-in user, or None."""
    if not user.is_authenticated or not user.is_active or isinstance(user, IntegrationUser):
        return None
    try:
        agent: Agent = user.agent  # type: ignore[attr-defined]
    except Agent.DoesNotExist:
        return None
    return agent if agent.is_active else None


def integration_for(user: Any) -> Integration | None:
    """The integration whose key signed the request (``request.user`` an ``IntegrationUser``)
    when it is active and may read the team's leads; else None."""
    integration = getattr(user, "integration", None)
    if isinstance(integration, Integration) and integration.allows(Integration.Scope.LEADS_READ):
        return integration
    return None


def _offered_to(agent: Agent) -> list[int]:
    # A list, not a subquery: an OR with a subquery defeats the indexes on a large table.
    return list(
        LeadOffer.objects.filter(agent=agent, status=LeadOffer.Status.OPEN).values_list(
            "lead_id", flat=True
        )[:500]
    )


def _visible(agent: Agent, offered: list[int] | QuerySet[Any]) -> Q:
    if agent.is_manager:
        return Q(team_id=agent.team_id) | Q(assigned_agent_id=agent.pk)
    return (
        Q(assigned_agent_id=agent.pk)
        | Q(team_id=agent.team_id, assigned_agent__isnull=True)
        | Q(pk__in=offered)
    )


def visible_leads(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Lead]:
    """Every lead ``user`` may see (two queries at most: the agent, their open offers); an
    integration that may read leads sees its team's."""
    agent = agent_for(user)
    if agent is None:
        integration = integration_for(user)
        if integration is not None:
            return Lead.objects.filter(team_id=integration.team_id, is_test=False)
        return Lead.objects.none()
    offered = [] if agent.is_manager else _offered_to(agent)
    return Lead.objects.filter(_visible(agent, offered), is_test=False)


def _search(terms: str, prefix: str = "") -> Q:
    """Every word must match a name (accents and case aside: "zoe" finds Zoë), an email or
    (its digits) a phone number."""
    query = Q()
    for word in terms.split()[:5]:
        digits = "".join(ch for ch in word if ch.isdigit())
        term = Q(**{f"{prefix}search_name__contains": fold(word)}) | Q(
            **{f"{prefix}email__icontains": word.lower()}
        )
        if len(digits) >= 3:
            term |= Q(**{f"{prefix}phone__contains": digits})
        query &= term
    return query


def _matching(leads: QuerySet[Lead], terms: str) -> QuerySet[Lead]:
    """``leads`` of the people ``terms`` finds.

    A search that names few people looks them up first (trigram indexes on PostgreSQL) and
    takes their leads; a broad one filters the list as it is read in order, where matches
    come soon. Either way the answer is exact, in one query more.
    """
    people = list(
        Contact.objects.filter(_search(terms)).values_list("pk", flat=True)[: SEARCH_PEOPLE + 1]
    )
    if len(people) <= SEARCH_PEOPLE:
        return leads.filter(contact_id__in=people)
    return leads.filter(_search(terms, prefix="contact__"))


def lead_list(
    *, user: AbstractBaseUser | AnonymousUser, filters: LeadFilters | None = None
) -> QuerySet[Lead]:
    """The leads ``user`` may see, narrowed by ``filters``, in inbox order.

    New and offered leads first (the nearest acceptance deadline first), then accepted ones,
    then the rest; within each, the most recent activity first. Rows carry their contact and
    agent (no query per row). A manager's list is their team's leads (read in that order
    straight from an index, whatever the size of the team); a lead of another team assigned
    to them is under ``scope="mine"``.
    """
    filters = filters or LeadFilters()
    agent = agent_for(user)
    integration = integration_for(user) if agent is None else None
    if agent is None and integration is None:
        return Lead.objects.none()
    offered = [] if agent is None or agent.is_manager else _offered_to(agent)
    if agent is None:  # an integration: the team's leads, nobody's own
        leads = visible_leads(user=user)
        if filters.scope == "mine":
            leads = leads.none()
    elif filters.scope == "mine":
        # Theirs is a part of what they may see: said once, so the planner's estimate of
        # the agent's leads is not squared (which chose a plan 200 times slower).
        leads = Lead.objects.filter(
            Q(assigned_agent_id=agent.pk) | Q(pk__in=offered), is_test=False
        )
    elif agent.is_manager:
        leads = Lead.objects.filter(team_id=agent.team_id, is_test=False)
    else:
        leads = Lead.objects.filter(_visible(agent, offered), is_test=False)
    team_id = agent.team_id if agent is not None else integration.team_id  # type: ignore[union-attr]
    if filters.scope == "pool":
        leads = leads.filter(team_id=team_id, assigned_agent__isnull=True).exclude(
            status__in=CLOSED_STATUSES
        )
    if filters.status == "open":
        leads = leads.exclude(status__in=CLOSED_STATUSES)
    elif filters.status == "closed":
        leads = leads.filter(status__in=CLOSED_STATUSES)
    elif filters.status:
        leads = leads.filter(status=filters.status)
    if filters.source:
        leads = leads.filter(source=filters.source)
    if filters.agent_id is not None:
        leads = leads.filter(assigned_agent_id=filters.agent_id)
    elif filters.unassigned:
        leads = leads.filter(assigned_agent__isnull=True)
    if filters.stage in STAGE_KEYS:
        leads = leads.filter(reached(STAGE_KEYS.index(filters.stage)))
    if filters.received_from is not None:
        leads = leads.filter(received_at__gte=filters.received_from)
    if filters.received_to is not None:
        leads = leads.filter(received_at__lt=filters.received_to)
    if filters.lead_type:
        leads = leads.filter(lead_type=filters.lead_type)
    if filters.q.strip():
        leads = _matching(leads, filters.q)
    return (
        leads.select_related("contact", "assigned_agent")
        .only(*ROW_FIELDS)
        .order_by(INBOX_GROUP, F("sla_due_at").asc(nulls_last=True), "-updated_at", "-pk")
    )


# The person's row stands on the inquiry that waits for the agent (new: Accept or Claim), else
# on their latest.
WAITING = Case(When(status=Lead.Status.NEW, then=Value(1)), default=Value(0))


def people_list(
    *, user: AbstractBaseUser | AnonymousUser, filters: LeadFilters | None = None
) -> QuerySet[Lead]:
    """:func:`lead_list` with one row per person, in the same order: of the person's leads
    the list holds, the latest, or the latest new one when one is new (the inquiry that waits
    for an Accept or a Claim). ``inquiries`` (:func:`inquiry_counts`) tells how many they sent.

    The leads a row stands ahead of are found by a lookup per row on the person's leads (the
    contact index), so a page costs what it did, whatever the number of leads.
    """
    leads = lead_list(user=user, filters=filters)
    if isinstance(leads, EmptyQuerySet):
        return leads
    ahead = (
        leads.order_by()
        .annotate(waiting=WAITING)
        .filter(contact_id=OuterRef("contact_id"))
        .filter(
            Q(waiting__gt=OuterRef("waiting"))
            | Q(waiting=OuterRef("waiting"), received_at__gt=OuterRef("received_at"))
            | Q(
                waiting=OuterRef("waiting"),
                received_at=OuterRef("received_at"),
                pk__gt=OuterRef("pk"),
            )
        )
    )
    return leads.annotate(waiting=WAITING).filter(~Exists(ahead))


def inquiry_counts(*, user: AbstractBaseUser | AnonymousUser, leads: list[Lead]) -> None:
    """Set ``inquiries`` on each of ``leads``: how many leads of its person ``user`` may see
    (as the person page lists them). One query for the page."""
    contacts = {lead.contact_id for lead in leads}
    agent = agent_for(user)
    if agent is None or not contacts:
        return
    # The open offers as a subquery: narrowed to the page's people first, it costs nothing
    # and saves reading them again.
    offered = LeadOffer.objects.filter(agent=agent, status=LeadOffer.Status.OPEN).values("lead_id")
    counts: dict[int, int] = dict(
        Lead.objects.filter(_visible(agent, offered), is_test=False)
        .filter(contact_id__in=contacts)
        .order_by()
        .values("contact_id")
        .annotate(n=Count("id"))
        .values_list("contact_id", "n")
    )
    for lead in leads:
        lead.inquiries = counts.get(lead.contact_id, 1)  # type: ignore[attr-defined]


def export_leads(
    *, user: AbstractBaseUser | AnonymousUser, filters: LeadFilters | None = None
) -> QuerySet[Lead]:
    """The leads ``user`` may export, in the list's order: a manager their team's (narrowed
    by the list's filters), an agent only their own (assigned or offered to them), never the
    team's pool or anyone else's."""
    filters = filters or LeadFilters()
    agent = agent_for(user)
    if agent is None:
        return Lead.objects.none()
    if not agent.is_manager:
        filters = LeadFilters(**{**filters.__dict__, "scope": "mine"})
    return lead_list(user=user, filters=filters)


def export_people(
    *, user: AbstractBaseUser | AnonymousUser, filters: LeadFilters | None = None
) -> QuerySet[Contact]:
    """The people of the leads ``user`` may export (:func:`export_leads`, same filters), each
    once, the newest first."""
    leads = export_leads(user=user, filters=filters)
    if isinstance(leads, EmptyQuerySet):
        return Contact.objects.none()
    return Contact.objects.filter(
        Exists(leads.order_by().filter(contact_id=OuterRef("pk")))
    ).order_by("-pk")


def pool_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Lead]:
    """The team's claimable leads: unassigned and not closed, the oldest waiting first."""
    return lead_list(user=user, filters=LeadFilters(scope="pool")).order_by("received_at", "pk")


def lead_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Lead:
    """One lead ``user`` may see, with its contact, agent and team.

    Raises ``Lead.DoesNotExist`` for a lead that does not exist and for one the user may not
    see alike, so a caller answers both with the same 404 and leaks nothing.
    """
    return (
        visible_leads(user=user)
        .select_related("contact", "assigned_agent", "team", "routing_rule")
        .get(pk=pk)
    )


@dataclass(frozen=True)
class MovedOn:
    """What took a lead from an agent who had it: ``title`` says where it went and when
    ("Reassigned to Bella Nguyen at 10:42 AM: not accepted in 5 min"), ``detail`` why when
    a person decided it."""

    lead_id: int
    name: str
    title: str
    detail: str = ""
    at: dt.datetime | None = None


def lead_moved_on(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> MovedOn | None:
    """For a lead ``user`` no longer sees but was given or offered: what took it from them.

    None when they never had it (then it is a lead like any other they may not see: a 404).
    The person's name is told, as the agent's alert told it; nothing else of the lead is.
    Two queries.
    """
    agent = agent_for(user)
    if agent is None:
        return None
    decisions = list(
        RoutingDecision.objects.filter(lead_id=pk)
        .select_related("agent", "rule", "lead__contact")
        .only(
            "kind", "offered_to", "reason", "created_at", "agent__display_name",
            "rule__sla_minutes", "lead__contact__first_name", "lead__contact__last_name",
        )
        .order_by("created_at", "id")
    )  # fmt: skip
    theirs = [
        index
        for index, decision in enumerate(decisions)
        if decision.agent_id == agent.pk or agent.pk in (decision.offered_to or [])
    ]
    if not theirs or theirs[-1] + 1 >= len(decisions):
        return None
    given, taken = decisions[theirs[-1]], decisions[theirs[-1] + 1]
    contact = taken.lead.contact
    at = dateformat.format(timezone.localtime(taken.created_at), "g:i A")
    to = taken.agent.display_name if taken.agent else ""
    kinds = RoutingDecision.Kind
    detail = ""
    if taken.kind == kinds.CLAIM:
        title = f"Claimed by {to} at {at}"
    elif taken.kind == kinds.MANUAL:
        title, detail = f"Reassigned to {to} at {at}", taken.reason
    else:
        if to:
            went = f"Reassigned to {to}"
        elif taken.offered_to:
            went = "Offered to other agents"
        else:
            went = "Moved to the team pool"
        # The time the agent had: the acceptance deadline of the rule that gave it to them.
        minutes = given.rule.sla_minutes if given.rule else DEFAULT_SLA_MINUTES
        title = f"{went} at {at}: not accepted in {minutes} min"
    return MovedOn(pk, contact.full_name or "this person", title, detail, taken.created_at)


SPEED_STEPS = (
    ("assigned_at", "assigned"),
    ("alert_sent_at", "alert sent"),
    ("alert_delivered_at", "alert delivered"),
    ("accepted_at", "accepted"),
    ("first_contact_at", "first contact"),
)


def lead_speed(lead: Lead, timeline: list[TimelineEntry] | None = None) -> list[tuple[str, str]]:
    """Speed to lead, step by step: each moment reached, as the time since the lead was
    received (``("alert sent", "0.4 s")``). No query.

    "Assigned" is the lead's first assignment, read from its ``timeline`` when it has one:
    a lead handed on later was still assigned as fast as the router first placed it.
    """
    handed = sorted(e.at for e in timeline or [] if e.kind == "routing" and e.agent)
    first_assigned = handed[0] if len(handed) > 1 else lead.assigned_at
    steps = []
    for field_name, label in SPEED_STEPS:
        at = first_assigned if field_name == "assigned_at" else getattr(lead, field_name)
        if at is not None:
            steps.append((label, _elapsed((at - lead.received_at).total_seconds())))
    return steps


def _elapsed(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


@dataclass(frozen=True)
class LeadAccess:
    """What ``user`` may do to one lead they can see."""

    accept: bool = False
    claim: bool = False
    work: bool = False
    reassign: bool = False


def lead_access(*, user: AbstractBaseUser | AnonymousUser, lead: Lead) -> LeadAccess:
    """The assigned agent accepts and works the lead; a team agent claims an unassigned one;
    the team's manager works and reassigns any lead of the team. No query."""
    agent = agent_for(user)
    if agent is None:
        return LeadAccess()
    mine = lead.assigned_agent_id == agent.pk
    manager = agent.is_manager and lead.team_id == agent.team_id
    open_lead = lead.status not in CLOSED_STATUSES
    return LeadAccess(
        accept=mine and lead.accepted_at is None,
        claim=lead.assigned_agent_id is None and open_lead,
        work=mine or manager,
        reassign=manager,
    )


# What a routing decision already tells: the activities written beside it are not repeated.
ROUTING_ACTIVITIES = (
    Activity.Kind.ASSIGNED,
    Activity.Kind.UNASSIGNED,
    Activity.Kind.OFFERED,
    Activity.Kind.CLAIMED,
    Activity.Kind.ESCALATED,
)


def lead_timeline(*, lead: Lead, limit: int = 200) -> list[TimelineEntry]:
    """The lead's story, newest first: its activities (and the person's own), each routing
    step once in plain words, and what the edges add (``leads.extensions.timeline``).

    Two queries, one more when a step offered the lead to agents, and one per timeline
    contributor.
    """
    entries = _timeline(Q(lead=lead), Q(lead=lead), lead.contact_id, limit)
    entries.extend(timeline_entries(lead=lead, limit=limit))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


ACTIVITY_FIELDS = (
    "kind", "summary", "data", "created_at", "actor__username", "actor__agent__display_name",
    "lead_id",
)  # fmt: skip


def _timeline(decided: Q, done: Q, contact_id: int, limit: int) -> list[TimelineEntry]:
    """The routing decisions matching ``decided`` and the activities matching ``done`` (with
    the person's own, of no lead), as timeline entries, newest first; no edge's."""
    decisions = list(
        RoutingDecision.objects.filter(decided)
        .select_related("agent", "rule")
        .only(*DECISION_FIELDS)
        .order_by("-created_at", "-id")[:limit]
    )
    names = _offered_names(decisions)
    entries = [
        replace(routing_entry(decision, names), inquiry=str(decision.lead_id))
        for decision in decisions
    ]
    activities = (
        Activity.objects.filter(done | Q(contact_id=contact_id, lead__isnull=True))
        .select_related("actor__agent")
        .only(*ACTIVITY_FIELDS)
        .order_by("-created_at", "-id")
    )
    if decisions:
        activities = activities.exclude(kind__in=ROUTING_ACTIVITIES)
    for activity in activities[:limit]:
        details = []
        if activity.kind == Activity.Kind.NOTE:
            details = [str(activity.data.get("text", ""))]
        actor = _person(activity.actor) if activity.actor else ""
        entries.append(
            TimelineEntry(
                activity.created_at,
                activity.kind,
                activity.summary,
                actor,
                details,
                tone="note" if activity.kind == Activity.Kind.NOTE else "",
                inquiry=str(activity.lead_id or ""),
            )
        )
    return entries


@dataclass(frozen=True)
class Person:
    """A person as ``user`` may see them: their inquiries (newest first), whose they are now,
    and one timeline of them all."""

    contact: Contact
    leads: list[Lead]
    owner: Agent | None
    timeline: list[TimelineEntry]

    @property
    def latest(self) -> Lead:
        return self.leads[0]


PERSON_LEADS = 50  # inquiries listed; the timeline's edge entries come from the newest few
PERSON_EDGE_LEADS = 5


def person_get(*, user: AbstractBaseUser | AnonymousUser, pk: int, limit: int = 300) -> Person:
    """The person ``pk`` with the inquiries of theirs ``user`` may see, and one timeline of
    those inquiries (their routing, activities, and what the edges add for the newest
    five). Raises ``Contact.DoesNotExist`` when the user may see none of their inquiries (or
    there is no such person): a 404 either way. A fixed number of queries: four, one more
    when a step offered a lead to agents, and one per timeline contributor and inquiry."""
    leads = list(
        visible_leads(user=user)
        .filter(contact_id=pk)
        .select_related("contact", "assigned_agent")
        .order_by("-received_at", "-pk")[:PERSON_LEADS]
    )
    if not leads:
        raise Contact.DoesNotExist
    contact = leads[0].contact
    open_leads = [lead for lead in leads if lead.status not in CLOSED_STATUSES]
    owner = next((lead.assigned_agent for lead in open_leads + leads if lead.assigned_agent), None)
    ids = [lead.pk for lead in leads]
    entries = _timeline(Q(lead_id__in=ids), Q(lead_id__in=ids), contact.pk, limit)
    labels = {
        str(lead.pk): f"{lead.get_lead_type_display()} via {lead.source}, "
        f"{timezone.localtime(lead.received_at):%b %-d}"
        for lead in leads
    }
    entries = [replace(entry, inquiry=labels.get(entry.inquiry, "")) for entry in entries]
    for lead in leads[:PERSON_EDGE_LEADS]:
        label = labels[str(lead.pk)]
        entries.extend(replace(e, inquiry=label) for e in timeline_entries(lead=lead, limit=limit))
    entries.sort(key=lambda e: e.at, reverse=True)
    return Person(contact=contact, leads=leads, owner=owner, timeline=entries[:limit])


def _offered_names(decisions: list[RoutingDecision]) -> dict[int, str]:
    """The names of the agents the decisions offered the lead to: one query, none without
    offers."""
    wanted = {pk for d in decisions for pk in d.offered_to or []}
    if not wanted:
        return {}
    return dict(Agent.objects.filter(pk__in=wanted).values_list("pk", "display_name"))


def routing_entry(decision: RoutingDecision, names: dict[int, str]) -> TimelineEntry:
    """One routing step as a person says it: where the lead went, and why, in words."""
    kinds = RoutingDecision.Kind
    agent = decision.agent.display_name if decision.agent else ""
    offered = [names.get(pk, "an agent") for pk in decision.offered_to or []]
    details: list[str] = []
    if decision.kind == kinds.CLAIM:
        title = f"Claimed by {agent or 'an agent'}"
    elif decision.kind == kinds.MANUAL:
        title = f"Handed to {agent or 'an agent'}"
        details = [decision.reason]
    else:
        if agent:
            went = f"assigned to {agent}"
        elif offered:
            went = f"offered to {_names(offered)}: the first to claim it gets it"
        else:
            went = "left in the team pool"
        title = f"Not accepted in time, so {went}" if decision.kind == kinds.ESCALATION else went
        title = title[0].upper() + title[1:]
        details = _why(decision)
    return TimelineEntry(
        decision.created_at, "routing", title, details=details, tone="routing", agent=agent
    )


def _why(decision: RoutingDecision) -> list[str]:
    """Why a decision went where it went: the rule and how it matched, the rules that had
    nobody free, the agents passed over."""
    rule_id = decision.rule_id
    placed = decision.agent_id is not None or bool(decision.offered_to)
    lines = []
    if decision.mode == "direct" or (placed and rule_id is None):
        lines.append(decision.reason)  # placed without a rule, or its rule deleted since
    else:
        for match in decision.matched or []:
            said = _matched_words(match)
            if match.get("rule") == rule_id:
                mode = MODE_WORDS.get(decision.mode, "")
                lines.append(f"{said}; {mode}." if mode else f"{said}.")
                break
            lines.append(f"{said}, but nobody there was free.")
        if not decision.matched and decision.kind != RoutingDecision.Kind.ESCALATION:
            lines.append(decision.reason)  # no rule matched, or no team covers it
    passed = dict.fromkeys(
        f"{s.get('name')} ({SKIP_WORDS.get(str(s.get('reason')), s.get('reason'))})"
        for s in decision.skipped or []
    )
    if passed:
        lines.append(f"Passed over: {', '.join(passed)}.")
    return lines


def _matched_words(match: dict[str, Any]) -> str:
    """``{"name": "Miami Beach", "by": ..., "area": "ZIP 33139"}`` in words."""
    name, by = match.get("name", ""), str(match.get("by", ""))
    territory, area = match.get("territory") or name, match.get("area")
    if not area and by.startswith("territory ") and " by " in by:  # recorded before "area"
        territory, _, area = by.removeprefix("territory ").rpartition(" by ")
    if area:
        said = f"{area} is in the {territory} territory"
        return said if territory == name else f"{said} (rule {name})"
    if by == "the team default":
        return "No territory or rule of the team took it: the team's default rule"
    if by == "its conditions":
        return f"The rule {name} takes leads like this one"
    if by == "next agent":
        return f"The next agent of the rule {name}"
    if by.startswith("fallback step"):
        return f"The rule {name}, {by}"
    return f"The rule {name} ({by})"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _person(user: Any) -> str:
    try:
        return str(user.agent.display_name)
    except Agent.DoesNotExist:
        return str(user.username)


def lead_related(*, user: AbstractBaseUser | AnonymousUser, lead: Lead) -> QuerySet[Lead]:
    """The person's other leads that ``user`` may see, newest first."""
    return (
        visible_leads(user=user)
        .filter(contact_id=lead.contact_id)
        .exclude(pk=lead.pk)
        .select_related("assigned_agent")
        .only("source", "lead_type", "status", "received_at", "assigned_agent__display_name")
        .order_by("-received_at")[:20]
    )


# --- Follow-ups and the agent's day -----------------------------------------------------------

TASK_FIELDS = (
    "lead_id", "agent_id", "kind", "due_at", "duration_minutes", "location", "note", "status",
    "done_at", "created_at", "updated_at", "lead__contact__first_name", "lead__contact__last_name",
    "lead__contact__phone", "lead__contact__email", "lead__team_id", "lead__assigned_agent_id",
)  # fmt: skip


def _tasks_for(agent: Agent) -> QuerySet[Task]:
    """The agent's follow-ups on leads they still work: their own leads (a manager: the
    team's)."""
    mine = Task.objects.filter(agent=agent)
    leads = Q(lead__assigned_agent_id=agent.pk)
    if agent.is_manager:
        leads |= Q(lead__team_id=agent.team_id)
    return mine.filter(leads).select_related("lead__contact").only(*TASK_FIELDS)


def lead_tasks(*, user: AbstractBaseUser | AnonymousUser, lead: Lead) -> list[Task]:
    """The open follow-ups of a lead ``user`` may see (anyone's), the soonest first."""
    if agent_for(user) is None:
        return []
    return list(
        Task.objects.filter(lead=lead, status=Task.Status.OPEN)
        .select_related("agent")
        .order_by("due_at", "pk")[:50]
    )


# The most follow-ups Today lists (the oldest overdue first), and of them the week's coming ones.
TODAY_TASKS, TODAY_UPCOMING = 80, 20


@dataclass(frozen=True)
class Today:
    """The agent's day: follow-ups overdue and due before the end of their day, upcoming
    ones (the next week), and the leads waiting for them (new, offered)."""

    overdue: list[Task]
    due_today: list[Task]
    upcoming: list[Task]
    waiting: list[Lead]
    # When the clock alone changes this day (a follow-up falls overdue, the day ends): a live
    # screen's 304 holds until then.
    changes_at: dt.datetime | None = None


def today(*, user: AbstractBaseUser | AnonymousUser, now: dt.datetime | None = None) -> Today:
    """The agent's day (three queries, four for an agent with open offers)."""
    from .followups import day_bounds

    agent = agent_for(user)
    if agent is None:
        return Today([], [], [], [])
    now = now or timezone.now()
    _start, end = day_bounds(agent, now)
    tasks = list(
        _tasks_for(agent)
        .filter(status=Task.Status.OPEN, due_at__lt=end + dt.timedelta(days=7))
        .order_by("due_at", "pk")[:TODAY_TASKS]
    )
    waiting = list(
        lead_list(user=user, filters=LeadFilters(scope="mine", status=Lead.Status.NEW))[:50]
    )
    due_today = [t for t in tasks if now <= t.due_at < end]
    return Today(
        overdue=[t for t in tasks if t.due_at < now],
        due_today=due_today,
        upcoming=[t for t in tasks if t.due_at >= end][:TODAY_UPCOMING],
        waiting=waiting,
        changes_at=min([t.due_at for t in due_today], default=end),
    )


def task_for(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Task:
    """A follow-up ``user`` may act on (theirs, or of their team for a manager); raises
    ``Task.DoesNotExist`` otherwise."""
    agent = agent_for(user)
    if agent is None:
        raise Task.DoesNotExist
    tasks = Task.objects.select_related("lead__contact")
    if agent.is_manager:
        return tasks.get(Q(agent=agent) | Q(lead__team_id=agent.team_id), pk=pk)
    return tasks.get(agent=agent, pk=pk)


# What calendar_token_renew makes (secrets.token_urlsafe), within the column's 64.
CALENDAR_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def calendar_tasks(
    *, token: str, now: dt.datetime | None = None
) -> tuple[Agent, list[Task]] | None:
    """The agent whose calendar feed ``token`` opens and their follow-ups from 30 days back
    on (open and done; canceled ones leave the calendar), or None for an unknown token (and
    for one that could not be a token: a NUL in it is no question for the database)."""
    if CALENDAR_TOKEN.fullmatch(token) is None:
        return None
    agent = (
        Agent.objects.filter(calendar_token=token, is_active=True, user__is_active=True)
        .select_related("team")
        .first()
    )
    if agent is None:
        return None
    now = now or timezone.now()
    tasks = list(
        _tasks_for(agent)
        .filter(due_at__gte=now - dt.timedelta(days=30))
        .exclude(status=Task.Status.CANCELED)
        .order_by("due_at", "pk")[:1000]
    )
    return agent, tasks


def team_agents(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Agent]:
    """The active agents a manager may hand leads to; nobody for anyone else."""
    agent = agent_for(user)
    if agent is None or not agent.is_manager:
        return Agent.objects.none()
    return Agent.objects.filter(team_id=agent.team_id, is_active=True, user__is_active=True)


def lead_sources(*, user: AbstractBaseUser | AnonymousUser) -> list[str]:
    """The sources of the leads of the user's team, for the filter. One query.

    A recursive query steps through the (team, source) index one source at a time, so the
    cost follows the number of sources, not of leads (a DISTINCT reads every lead).
    """
    agent = agent_for(user)
    if agent is None:
        return []
    table = connection.ops.quote_name(Lead._meta.db_table)
    sql = f"""
        WITH RECURSIVE sources(source) AS (
            SELECT MIN(source) FROM {table} WHERE team_id = %s
            UNION ALL
            SELECT (SELECT MIN(source) FROM {table} WHERE team_id = %s AND source > sources.source)
            FROM sources WHERE sources.source IS NOT NULL
        )
        SELECT source FROM sources WHERE source IS NOT NULL
    """  # noqa: S608 - the table name is the model's own, the values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [agent.team_id, agent.team_id])
        return [row[0] for row in cursor.fetchall()]


# --- The manager's dashboard ------------------------------------------------------------------


@dataclass(frozen=True)
class Speed:
    """Speed to lead of a group of leads: medians and 90th percentiles, or None."""

    label: str
    leads: int
    to_accept_median: dt.timedelta | None
    to_accept_p90: dt.timedelta | None
    to_contact_median: dt.timedelta | None
    to_contact_p90: dt.timedelta | None
    key: str = ""  # the agent's id ("" for nobody) or the source: what the group's link filters by


@dataclass(frozen=True)
class Conversion:
    """How far a group's leads of the period got: received, reached an appointment, won."""

    label: str
    key: str  # the agent's id or the source: what the group's link filters by
    received: int
    appointment: int
    won: int

    @property
    def to_appointment(self) -> str:
        return f"{self.appointment / self.received:.0%}" if self.received else "\u2014"

    @property
    def to_won(self) -> str:
        return f"{self.won / self.received:.0%}" if self.received else "\u2014"


@dataclass
class Dashboard:
    days: int
    since: dt.datetime
    total: int
    speed_overall: Speed
    speed_by_agent: list[Speed]
    speed_by_source: list[Speed]
    by_source: list[tuple[str, int]]
    by_week: list[tuple[dt.date, int]]
    funnel: list[tuple[str, int]]
    breaching: list[Lead]
    panels: list[DashboardPanel]
    until: dt.datetime | None = None  # a custom range's end (exclusive); None: up to now
    conversion_by_agent: list[Conversion] = field(default_factory=list)
    conversion_by_source: list[Conversion] = field(default_factory=list)


# The funnel's stages, in the order of the statuses that reach them.
FUNNEL = ("Received", "Accepted", "Contacted", "Qualified", "Appointment", "Under contract", "Won")
STAGE_ORDER = [
    Lead.Status.NEW, Lead.Status.ACCEPTED, Lead.Status.CONTACTED, Lead.Status.QUALIFIED,
    Lead.Status.APPOINTMENT, Lead.Status.UNDER_CONTRACT, Lead.Status.CLOSED_WON,
]  # fmt: skip


# How the lead list names the funnel's stages (``?stage=appointment``), in FUNNEL's order.
STAGE_KEYS = (
    "received", "accepted", "contacted", "qualified", "appointment", "under_contract", "won",
)  # fmt: skip


def reached(place: int) -> Q:
    """The leads that got at least as far as the funnel's stage ``place``: exactly those
    :func:`_stage` counts there (their status's place, or, lost, what their timestamps say)."""
    if place <= 0:
        return Q()
    got = Q(status__in=STAGE_ORDER[place:])
    if place <= 1:
        got |= Q(accepted_at__isnull=False)
    if place <= 2:
        got |= Q(first_contact_at__isnull=False)
    return got


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of ``values`` (``share`` 0.9 for p90), or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _speed(label: str, rows: list[tuple[Any, ...]]) -> Speed:
    """Rows are (agent, source, status, time to accept, time to first contact)."""
    accept = [r[3].total_seconds() for r in rows if r[3] is not None]
    contact = [r[4].total_seconds() for r in rows if r[4] is not None]

    def span(seconds: float | None) -> dt.timedelta | None:
        return None if seconds is None else dt.timedelta(seconds=max(0.0, seconds))

    return Speed(
        label,
        len(rows),
        span(statistics.median(accept) if accept else None),
        span(percentile(accept, 0.9)),
        span(statistics.median(contact) if contact else None),
        span(percentile(contact, 0.9)),
    )


def _stage(row: tuple[Any, ...]) -> int:
    """How far a lead got: its status's place, or (lost) how far its timestamps say."""
    reached = STAGE_ORDER.index(row[2]) if row[2] in STAGE_ORDER else 0
    if row[3] is not None:
        reached = max(reached, 1)
    if row[4] is not None:
        reached = max(reached, 2)
    return reached


def _weeks(since: dt.datetime, now: dt.datetime) -> list[dt.date]:
    first = timezone.localtime(since).date()
    first -= dt.timedelta(days=first.weekday())
    last = timezone.localtime(now).date()
    weeks = []
    while first <= last:
        weeks.append(first)
        first += dt.timedelta(days=7)
    return weeks


APPOINTMENT_STAGE = STAGE_ORDER.index(Lead.Status.APPOINTMENT)


def _conversion(label: str, key: str, rows: list[tuple[Any, ...]]) -> Conversion:
    appointment = sum(1 for row in rows if _stage(row) >= APPOINTMENT_STAGE)
    won = sum(1 for row in rows if row[2] == Lead.Status.CLOSED_WON)
    return Conversion(label, key, len(rows), appointment, won)


def dashboard(
    *,
    user: AbstractBaseUser | AnonymousUser,
    days: int = 30,
    now: dt.datetime | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Dashboard | None:
    """The manager's figures for their team over the last ``days`` days; None for others.

    Speed to lead (median and p90 from received to accepted and to first contact) per agent
    and per source, leads by source and by week, the funnel, the leads breaching their
    deadline now, and the panels the edges add (``leads.extensions.dashboard``). Five
    queries and one per panel: the figures come from one narrow read of the period's leads
    and a count by week.
    """
    agent = agent_for(user)
    if agent is None or not agent.is_manager:
        return None
    now = now or timezone.now()
    if since is None:
        days = days if days in PERIODS else 30
        since, until = now - dt.timedelta(days=days), None
    else:
        days = max(1, round(((until or now) - since).total_seconds() / 86400))
    team_leads = Lead.objects.filter(team_id=agent.team_id, is_test=False)
    period = team_leads.filter(received_at__gte=since).order_by()
    if until is not None:
        period = period.filter(received_at__lt=until)
    # Spans computed by the database: two intervals a row read faster than three timestamps.
    rows = list(
        period.values_list(
            "assigned_agent_id",
            "source",
            "status",
            ExpressionWrapper(F("accepted_at") - F("received_at"), output_field=DurationField()),
            ExpressionWrapper(
                F("first_contact_at") - F("received_at"), output_field=DurationField()
            ),
        )
    )
    weeks = {
        timezone.localtime(row["week"]).date() if isinstance(row["week"], dt.datetime)
        else row["week"]: row["n"]
        for row in period.annotate(week=TruncWeek("received_at")).values("week").annotate(
            n=Count("id")
        )
    }  # fmt: skip
    names = dict(Agent.objects.filter(team_id=agent.team_id).values_list("pk", "display_name"))
    by_agent: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    by_source_rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_agent[row[0]].append(row)
        by_source_rows[row[1]].append(row)
    speed_by_agent = sorted(
        (
            replace(_speed(names.get(a, "Unassigned") if a else "Unassigned", r), key=str(a or ""))
            for a, r in by_agent.items()
        ),
        key=lambda s: (-s.leads, s.label),
    )
    speed_by_source = sorted(
        (replace(_speed(source, r), key=source) for source, r in by_source_rows.items()),
        key=lambda s: (-s.leads, s.label),
    )
    stages = Counter(_stage(row) for row in rows)
    funnel = [
        (label, sum(n for stage, n in stages.items() if stage >= place))
        for place, label in enumerate(FUNNEL)
    ]
    breaching = list(
        team_leads.filter(
            sla_due_at__lt=now, accepted_at__isnull=True, first_contact_at__isnull=True
        )
        .select_related("contact", "assigned_agent")
        .only(*ROW_FIELDS)
        .order_by("sla_due_at")[:50]
    )
    return Dashboard(
        days=days,
        since=since,
        total=len(rows),
        speed_overall=_speed("All leads", rows),
        speed_by_agent=speed_by_agent,
        speed_by_source=speed_by_source,
        by_source=[(s.label, s.leads) for s in speed_by_source],
        by_week=[(week, weeks.get(week, 0)) for week in _weeks(since, min(until or now, now))],
        funnel=funnel,
        breaching=breaching,
        panels=dashboard_panels(team_id=agent.team_id, since=since),
        until=until,
        conversion_by_agent=sorted(
            (
                _conversion(names.get(a, "Unassigned") if a else "Unassigned", str(a or ""), r)
                for a, r in by_agent.items()
            ),
            key=lambda c: (-c.received, c.label),
        ),
        conversion_by_source=sorted(
            (_conversion(source, source, r) for source, r in by_source_rows.items()),
            key=lambda c: (-c.received, c.label),
        ),
    )


def leads_by_source() -> dict[str, int]:
    """How many leads each source brought (for operations' metrics; the unique index on
    source and external id answers it)."""
    rows = Lead.objects.order_by().values_list("source").annotate(n=Count("id"))
    return dict(rows)


def consent_latest(*, contact_id: int, channel: str) -> Consent | None:
    """The person's answer on ``channel``: the latest consent recorded (None: never asked)."""
    return (
        Consent.objects.filter(contact_id=contact_id, channel=channel)
        .order_by("-obtained_at", "-id")
        .first()
    )
