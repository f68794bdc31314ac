"""The routing engine: which agent gets a lead, and why.

:func:`route` decides (and, for a real decision, takes the round robin's turn);
:func:`leads.services.lead_route` applies the decision (assignment, offers, pool) and writes
the :class:`~leads.models.RoutingDecision`.
The order of precedence:

1. the listing agent, when the lead's MLS number is one of our agents' listings;
2. the agent the source pinned the lead to, or the contact's current agent;
3. the most specific matching rule (ZIP, city, county, state, source-only, team default,
   ties by priority) with an eligible agent, by the rule's mode;
4. the team's pool. A lead is never dropped.

An agent is eligible when active, not paused, within their working hours in their own time
zone, and under their daily capacity. The number of queries per decision does not grow with
the number of leads, territories or rules.
"""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Prefetch, Q, QuerySet, prefetch_related_objects
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from . import extensions
from .models import Agent, Lead, Listing, RoutingRule, RuleMember, Team, TerritoryArea
from .normalize import place_key

# What routing reads of an agent and of a rule: narrower rows, cheaper decisions. The agent's
# contact fields come too: whoever hears of the assignment (the alerts) reaches the agent
# through them, and an agent loaded without them costs a query per field read.
AGENT_FIELDS = (
    "display_name", "team_id", "is_active", "is_paused", "time_zone", "working_hours",
    "daily_capacity", "user__is_active", "mobile_phone", "email",
)  # fmt: skip
RULE_FIELDS = (
    "team_id", "name", "is_default", "is_active", "priority", "territory_id", "sources",
    "lead_types", "price_min", "price_max", "requires_phone", "mode", "use_territory_agents",
    "sla_minutes", "rotation_key",
)  # fmt: skip
# What a rule's territory is read with: its name, and the lists its areas are derived from.
TERRITORY_FIELDS = ("territory__name", "territory__zip_codes", "territory__cities",
                    "territory__counties", "territory__states")  # fmt: skip


def eligibility_agents() -> QuerySet[Agent]:
    """Agents with just what eligibility and the explanation read, and the rows the edges
    read of every agent routing picks (``extensions.agent_reads``)."""
    relations, fields = extensions.agent_read_paths()
    return Agent.objects.select_related("user", *relations).only(*AGENT_FIELDS, *fields)


# How specific a match is: lower wins.
LEVELS = {"zip": 0, "city": 1, "county": 2, "state": 3, "conditions": 4, "default": 5}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPEN_STATUSES = (Lead.Status.NEW, Lead.Status.ACCEPTED)


@dataclass(frozen=True)
class Skip:
    agent_id: int
    name: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent_id, "name": self.name, "reason": self.reason}


@dataclass
class Decision:
    """Where a lead goes and why.

    ``agent`` is set for an assignment; ``offered`` lists the agents of a first-to-claim
    offer; both empty means the team's pool.
    """

    team_id: int | None
    reason: str
    agent: Agent | None = None
    offered: list[Agent] = field(default_factory=list)
    rule: RoutingRule | None = None
    mode: str = ""
    matched: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    # The rule's rotation after this pick: the round robin's key (already written when the
    # decision was taken with ``lock``) and the weighted counts, which applying it persists.
    rotation_key: int | None = None
    credits: dict[int, int] = field(default_factory=dict)

    @property
    def to_pool(self) -> bool:
        return self.agent is None and not self.offered


# --- Places --------------------------------------------------------------------------------


# The offline ZIP data (the ``zipcodes`` package) boiled down to what routing reads, shipped
# with the code: building it from ``zipcodes`` takes 0.5 s, reading this file 30 ms, so the
# first lead after a process starts does not wait for it. ``manage.py zip_places`` writes it
# again after a ``zipcodes`` upgrade; tests/leads/test_zip_places.py checks they agree.
ZIP_PLACES_FILE = Path(__file__).resolve().parent / "data" / "zip_places.tsv.gz"


def zip_places_from_dataset() -> dict[str, tuple[str, str, str]]:
    """ZIP → (city, county, state) straight from the ``zipcodes`` data set (slow: 0.5 s)."""
    import zipcodes

    return {
        row["zip_code"]: (row.get("city", ""), row.get("county", ""), row.get("state", ""))
        for row in zipcodes.list_all()
    }


def zip_places_write(places: dict[str, tuple[str, str, str]], path: Path = ZIP_PLACES_FILE) -> None:
    """Write ``places`` as the gzipped, tab-separated file :func:`_zip_index` reads."""
    text = "\n".join("\t".join((zip_code, *facts)) for zip_code, facts in sorted(places.items()))
    path.write_bytes(gzip.compress(text.encode(), mtime=0))


@lru_cache(maxsize=1)
def _zip_index() -> dict[str, tuple[str, str, str]]:
    """ZIP → (city, county, state), read once per process from the shipped file."""
    text = gzip.decompress(ZIP_PLACES_FILE.read_bytes()).decode()
    index: dict[str, tuple[str, str, str]] = {}
    for line in text.split("\n"):
        zip_code, city, county, state = line.split("\t")
        index[zip_code] = (city, county, state)
    return index


def zip_facts(zip_code: str) -> tuple[str, str, str]:
    """(city, county, state) for a five-digit ZIP; empty strings for an unknown one."""
    return _zip_index().get(zip_code, ("", "", ""))


def describe_area(kind: str, value: str) -> str:
    """``("county", "orange county|fl")`` gives "county Orange County, FL", for people."""
    if kind == "zip":
        return f"ZIP {value}"
    if kind == "state":
        return f"state {value.upper()}"
    name, _, state = value.partition("|")
    return f"{kind} {name.title()}, {state.upper()}"


def lead_places(lead: Lead) -> dict[str, str]:
    """The lead's ZIP, city, county and state, normalised, filled in from the ZIP data."""
    zip_city, zip_county, zip_state = (
        zip_facts(lead.property_zip) if lead.property_zip else ("", "", "")
    )
    state = (lead.property_state or zip_state).strip().lower()
    city = lead.property_city or zip_city
    places = {"zip": lead.property_zip, "state": state}
    places["city"] = place_key(city, state) if city and state else ""
    places["county"] = place_key(zip_county, state) if zip_county and state else ""
    return {kind: value for kind, value in places.items() if value}


# --- Eligibility ----------------------------------------------------------------------------


def _local(now: dt.datetime, agent: Agent) -> dt.datetime:
    try:
        return now.astimezone(ZoneInfo(agent.time_zone))
    except (KeyError, ValueError):
        return now.astimezone(ZoneInfo("UTC"))


def within_hours(agent: Agent, now: dt.datetime) -> bool:
    """Whether ``now`` falls inside the agent's working hours in their own time zone.

    ``working_hours`` lists [start, end] spans per weekday ("09:00", "24:00" for the day's
    end); a span that ends before it starts runs past midnight into the next day (a Friday
    "22:00" to "06:00" covers Saturday until 06:00). A day not listed is off. No working hours
    at all means always available.
    """
    hours = agent.working_hours or {}
    if not any(hours.values()):
        return True
    local = _local(now, agent)
    clock = local.strftime("%H:%M")
    today, yesterday = WEEKDAYS[local.weekday()], WEEKDAYS[local.weekday() - 1]
    for start, end in hours.get(today, []):
        if start <= clock < end or (end < start <= clock):
            return True
    return any(end < start and clock < end for start, end in hours.get(yesterday, []))


def local_midnight(agent: Agent, now: dt.datetime) -> dt.datetime:
    local = _local(now, agent)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def assigned_today(agents: Iterable[Agent], now: dt.datetime) -> dict[int, int]:
    """Leads assigned since local midnight, for the agents that have a daily capacity.

    One query per time zone among those agents (usually one), whatever the number of leads.
    """
    by_midnight: dict[dt.datetime, list[int]] = {}
    for agent in agents:
        if agent.daily_capacity:
            by_midnight.setdefault(local_midnight(agent, now), []).append(agent.pk)
    counts: dict[int, int] = {}
    for midnight, ids in by_midnight.items():
        rows = (
            Lead.objects.filter(assigned_agent_id__in=ids, assigned_at__gte=midnight)
            .values("assigned_agent_id")
            .annotate(n=Count("id"))
        )
        counts.update({row["assigned_agent_id"]: row["n"] for row in rows})
    return counts


def ineligibility(agent: Agent, now: dt.datetime, today: dict[int, int]) -> str:
    """Why ``agent`` cannot take a lead now, or ``""`` when they can."""
    if not agent.is_active or not agent.user.is_active:
        return "inactive"
    if agent.is_paused:
        return "paused"
    if not within_hours(agent, now):
        return "off hours"
    if agent.daily_capacity and today.get(agent.pk, 0) >= agent.daily_capacity:
        return "at daily capacity"
    return ""


# --- Rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamRouting:
    """What a team routes by: its active rules (with their territories and agents loaded)
    and, per territory of those rules, the places it covers (``(kind, value)`` pairs)."""

    rules: list[RoutingRule]
    areas: dict[int, set[tuple[str, str]]]


# Each team's routing, kept in this process's memory, with until when (monotonic clock) it may
# be used: reading the areas, rules and agents was three queries and a fifth of a lead's CPU
# in the worker. A rule, territory, member or agent (or an edge's row read with the agents,
# the alert settings) saved or deleted in this process is forgotten at once; a change made in
# another process (a pause in the web app, a rule edited in the admin, alert settings) reaches
# routing, and what hears of its decisions, within ROUTING_CACHE_SECONDS. The rotation,
# the weighted shares, the loads and the daily counts are always read from the database.
_teams: dict[int, tuple[TeamRouting, float]] = {}


def team_routing(team_id: int) -> TeamRouting:
    """The team's routing, from memory while it is fresh; else three queries (the rules with
    their territories, the territories' agents, the rules' members with their agents).
    Read-only: the rules and agents in it are shared by every decision of this process."""
    now, keep = time.monotonic(), settings.ROUTING_CACHE_SECONDS
    known = _teams.get(team_id) if keep > 0 else None
    if known is not None and now < known[1]:
        return known[0]
    _forget_with_agent_reads()
    rules = list(
        RoutingRule.objects.filter(team_id=team_id, is_active=True)
        .select_related("territory")
        .only(*RULE_FIELDS, *TERRITORY_FIELDS)
    )
    _load_agents(rules)
    # The areas from the territory's own lists, as Territory.sync_areas derives its rows.
    areas = {r.territory.pk: r.territory.area_keys() for r in rules if r.territory is not None}
    loaded = TeamRouting(rules, areas)
    if keep > 0:
        _teams[team_id] = (loaded, now + keep)
    return loaded


def routing_forget(**kwargs: Any) -> None:
    """Forget every team's routing this process knew (something it routes by was saved)."""
    _teams.clear()


def _forget_with_agent_reads() -> None:
    """The edges' rows loaded with the agents (``extensions.agent_reads``: the alert settings)
    are kept with them: saving or deleting one in this process forgets too (leads/apps.py
    connects the domain's own models; the edges register theirs after the domain starts)."""
    for read in extensions.agent_reads:
        model = Agent._meta.get_field(read.relation).related_model
        uid = f"routing.read.{read.relation}"
        post_save.connect(routing_forget, sender=model, dispatch_uid=f"{uid}.saved")
        post_delete.connect(routing_forget, sender=model, dispatch_uid=f"{uid}.gone")


def matching_rules(
    lead: Lead, team_id: int, places: dict[str, str]
) -> list[tuple[int, RoutingRule, str, str]]:
    """The team's active rules whose conditions ``lead`` meets, most specific first.

    Returns (level, rule, what matched, the area matched: "ZIP 33139", or "" for a rule
    without a territory). No query while the team's routing is in memory (:func:`team_routing`).
    """
    team = team_routing(team_id)
    wanted = [(LEVELS[kind], (kind, value)) for kind, value in places.items()]
    found = []
    for rule in team.rules:
        if not conditions_met(rule, lead):
            continue
        place = ""
        if rule.territory is not None:
            covered = team.areas.get(rule.territory.pk, set())
            hits = sorted(pair for pair in wanted if pair[1] in covered)
            if not hits:
                continue
            level, (kind, value) = hits[0]
            place = describe_area(kind, value)
            what = f"territory {rule.territory.name} by {place}"
        elif rule.is_default:
            level, what = LEVELS["default"], "the team default"
        else:
            level, what = LEVELS["conditions"], "its conditions"
        found.append((level, rule, what, place))
    found.sort(key=lambda item: (item[0], -item[1].priority, item[1].pk))
    return found


def _load_agents(rules: list[RoutingRule]) -> None:
    """Fetch the agents of the rules that need them: one query per kind, none for pools."""
    by_territory = [r for r in rules if r.use_territory_agents and r.territory is not None]
    by_member = [r for r in rules if r.mode != RoutingRule.Mode.POOL and r not in by_territory]
    if by_territory:
        prefetch_related_objects(
            [r.territory for r in by_territory if r.territory is not None],
            Prefetch("agents", queryset=eligibility_agents()),
        )
    relations, fields = extensions.agent_read_paths("agent__")
    members = RuleMember.objects.select_related("agent__user", *relations).only(
        "rule_id", "step", "position", "weight", "credit", "agent_id",
        *(f"agent__{f}" for f in AGENT_FIELDS), *fields,
    )  # fmt: skip
    if by_member:
        prefetch_related_objects(by_member, Prefetch("members", queryset=members))


def conditions_met(rule: RoutingRule, lead: Lead) -> bool:
    if rule.sources and lead.source not in rule.sources:
        return False
    if rule.lead_types and lead.lead_type not in rule.lead_types:
        return False
    if rule.requires_phone and not lead.contact.phone:
        return False
    if rule.price_min is not None and (lead.price is None or lead.price < rule.price_min):
        return False
    return rule.price_max is None or (lead.price is not None and lead.price <= rule.price_max)


def rule_candidates(rule: RoutingRule, step: int = 0) -> list[tuple[int, Agent, int]]:
    """(rotation key, agent, weight) for the agents of ``rule`` at fallback ``step``."""
    if rule.mode == RoutingRule.Mode.POOL:
        return []
    if rule.use_territory_agents and rule.territory is not None and step == 0:
        return [
            (agent.pk, agent, 1)
            for agent in sorted(rule.territory.agents.all(), key=lambda a: a.pk)
        ]
    members = [m for m in rule.members.all() if m.step == step]
    return [(m.position * 1_000_000 + m.agent_id, m.agent, m.weight) for m in members]


# --- Modes ------------------------------------------------------------------------------------


def pick_round_robin(
    rule: RoutingRule, eligible: Sequence[tuple[int, Agent, int]]
) -> tuple[Agent, int]:
    """The first eligible agent after the rotation's last pick, wrapping around."""
    after = [c for c in eligible if c[0] > rule.rotation_key]
    key, agent, _ = after[0] if after else eligible[0]
    return agent, key


def take_turn(rule: RoutingRule, eligible: Sequence[tuple[int, Agent, int]]) -> tuple[Agent, int]:
    """:func:`pick_round_robin` on the rule's rotation as it is now in the database, moved on
    to the pick in the same statement (an UPDATE that holds the row until the caller's
    transaction ends, so leads routed at the same moment take turns). Returns the pick."""
    keys = [key for key, _, _ in eligible]
    quote = connection.ops.quote_name
    column = quote("rotation_key")
    # The first key after the last pick, in the order of ``eligible``; else the first.
    turn = f"CASE {' '.join(f'WHEN {column} < %s THEN %s' for _ in keys)} ELSE %s END"
    params: list[Any] = [*(k for key in keys for k in (key, key)), keys[0], rule.pk]
    table = quote(RoutingRule._meta.db_table)
    where = f"WHERE {quote('id')} = %s"
    update = f"UPDATE {table} SET {column} = {turn} {where}"  # noqa: S608 - quoted names only
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:  # UPDATE ... RETURNING too
            cursor.execute(f"{update} RETURNING {column}", params)
        else:  # SQLite before 3.35: the same UPDATE, then the key it wrote
            cursor.execute(update, params)
            cursor.execute(f"SELECT {column} FROM {table} {where}", [rule.pk])  # noqa: S608
        (taken,) = cursor.fetchone()
    return next(agent for key, agent, _ in eligible if key == taken), taken


def pick_weighted(
    members: dict[int, RuleMember], eligible: Sequence[tuple[int, Agent, int]]
) -> tuple[Agent, dict[int, int]]:
    """Weighted shares with no drift: at every moment each count is within one of its share.

    ``credit`` holds how many leads each member has had. Of the agents still behind their
    share after this lead, the one whose next lead falls due soonest ((count + 1) / weight)
    gets it; heavier weights first on a tie. Returns the pick and the counts to store.
    """
    total = sum(weight for _, _, weight in eligible)
    counts = {
        agent.pk: members[agent.pk].credit if agent.pk in members else 0 for _, agent, _ in eligible
    }
    given = sum(counts.values()) + 1
    behind = [c for c in eligible if given * c[2] - counts[c[1].pk] * total > 0] or list(eligible)
    _, best, _ = min(behind, key=lambda c: (Fraction(counts[c[1].pk] + 1, c[2]), -c[2], c[0]))
    return best, {best.pk: counts[best.pk] + 1}


def pick_least_loaded(eligible: Sequence[tuple[int, Agent, int]]) -> Agent:
    """Fewest open, not yet contacted leads; then the longest since their last lead."""
    ids = [agent.pk for _, agent, _ in eligible]
    loads = {
        row["pk"]: (row["open"], row["last"])
        for row in Agent.objects.filter(pk__in=ids)
        .annotate(
            open=Count(
                "leads",
                filter=Q(leads__status__in=OPEN_STATUSES, leads__first_contact_at__isnull=True),
            ),
            last=Max("leads__assigned_at"),
        )
        .values("pk", "open", "last")
    }
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)

    def load(candidate: tuple[int, Agent, int]) -> tuple[int, dt.datetime, int]:
        open_count, last = loads.get(candidate[1].pk, (0, None))
        return (open_count, last or epoch, candidate[0])

    return min(eligible, key=load)[1]


# --- The decision -----------------------------------------------------------------------------


def route(
    lead: Lead,
    *,
    now: dt.datetime | None = None,
    exclude: Iterable[int] = (),
    rule: RoutingRule | None = None,
    step: int = 0,
    pool: bool = False,
    lock: bool = False,
    new_person: bool = False,
) -> Decision:
    """Decide who gets ``lead``; :func:`leads.services.lead_route` applies the decision.

    ``exclude`` lists agents already tried (escalation). ``rule`` restricts the decision to
    one rule, from fallback ``step`` on; ``pool`` sends the lead straight to the team's pool.
    With ``lock`` (inside the caller's transaction) a round robin's turn is taken as it is
    read: the rule's rotation moves on in one UPDATE that holds the row until the caller's
    transaction ends, so concurrent decisions take turns; a weighted rule's members are read
    under a row lock. A dry run (the admin's "test a lead") leaves it off and writes nothing.
    ``new_person`` says the contact was just created, so nobody can already work with them
    (one query fewer).
    """
    now = now or timezone.now()
    excluded = set(exclude)
    places = lead_places(lead)
    skipped: list[Skip] = []

    if rule is None and not pool:
        preferred = _preferred_agent(lead, excluded, new_person)
        if preferred is not None:
            agent, why = preferred
            if agent.is_active and agent.user.is_active:
                return Decision(agent.team_id, why, agent=agent, mode="direct")
            skipped.append(Skip(agent.pk, str(agent), "inactive"))

    team_id = lead.team_id if lead.team_id is not None else _team_for(places, lead.source)
    if team_id is None:
        return Decision(None, "No team covers this lead: left unassigned.", skipped=skipped)
    if pool:
        return Decision(team_id, "Nobody accepted it in time: moved to the team pool.")

    areas: dict[int, dict[str, str]] = {}
    if rule is not None:
        has_chain = any(m.step > 0 for m in rule.members.all())
        steps = range(max(step, 1), 4) if has_chain and step > 0 else [0]
        candidates = [(s, rule, f"fallback step {s}" if s else "next agent") for s in steps]
    else:
        found = matching_rules(lead, team_id, places)
        candidates = [(0, r, what) for _, r, what, _ in found]
        # The territory and the place it matched by, for the timeline to say it in words.
        areas = {
            r.pk: {"territory": r.territory.name, "area": area}
            for _, r, _, area in found
            if area and r.territory is not None
        }
    matched = [
        {"rule": r.pk, "name": r.name, "by": what, **areas.get(r.pk, {})}
        for _, r, what in candidates
    ]

    everyone = {a.pk: a for s, r, _ in candidates for _, a, _ in rule_candidates(r, s)}
    today = assigned_today(everyone.values(), now)

    for rule_step, candidate, what in candidates:
        label = f"Rule {candidate.name} ({what})"
        if candidate.mode == RoutingRule.Mode.POOL:
            return Decision(
                team_id, f"{label} sends its leads to the team pool.", rule=candidate,
                mode=candidate.mode, matched=matched, skipped=skipped,
            )  # fmt: skip
        eligible = []
        for key, agent, weight in rule_candidates(candidate, rule_step):
            why_not = "already tried" if agent.pk in excluded else ineligibility(agent, now, today)
            if why_not:
                skipped.append(Skip(agent.pk, str(agent), why_not))
            else:
                eligible.append((key, agent, weight))
        if eligible:
            return _pick(candidate, rule_step, eligible, label, lock,
                         Decision(team_id, "", rule=candidate, mode=candidate.mode,
                                  matched=matched, skipped=skipped))  # fmt: skip

    if candidates:
        reason = "No matching rule had an available agent: left in the team pool."
    else:
        reason = "No rule matched: left in the team pool."
    return Decision(team_id, reason, matched=matched, skipped=skipped)


def _pick(  # the agents it gives are copies: what their readers cache stays with this lead
    rule: RoutingRule,
    step: int,
    eligible: list[tuple[int, Agent, int]],
    label: str,
    lock: bool,
    decision: Decision,
) -> Decision:
    mode = rule.mode
    if mode == RoutingRule.Mode.FIRST_TO_CLAIM:
        decision.offered = [copy.copy(agent) for _, agent, _ in eligible]
        names = ", ".join(str(a) for a in decision.offered)
        decision.reason = f"{label}, first to claim: offered to {names}."
        return decision
    if mode == RoutingRule.Mode.LEAST_LOADED:
        decision.agent = pick_least_loaded(eligible)
    elif mode == RoutingRule.Mode.WEIGHTED:
        members = RuleMember.objects.filter(rule=rule, step=step)
        if lock:
            members = members.select_for_update()
        decision.agent, decision.credits = pick_weighted({m.agent_id: m for m in members}, eligible)
    elif lock:  # the turn is taken (the rotation moved) as it is read
        decision.agent, decision.rotation_key = take_turn(rule, eligible)
    else:  # a dry run: the rotation as it is now (the rule in memory may be older)
        now_at = RoutingRule.objects.values_list("rotation_key", flat=True).get(pk=rule.pk)
        decision.agent, decision.rotation_key = pick_round_robin(
            RoutingRule(pk=rule.pk, rotation_key=now_at), eligible
        )
    decision.reason = f"{label}, {rule.get_mode_display().lower()}: {decision.agent}."
    decision.agent = copy.copy(decision.agent)
    return decision


def _preferred_agent(
    lead: Lead, excluded: set[int], new_person: bool = False
) -> tuple[Agent, str] | None:
    """The listing agent, the agent the source pinned, or the contact's current agent."""
    if lead.mls_number:
        listing = (
            Listing.objects.filter(mls_number=lead.mls_number, is_active=True)
            .select_related("agent__user")
            .first()
        )
        if listing and listing.agent_id not in excluded:
            return listing.agent, f"{listing.agent} is the listing agent of MLS {lead.mls_number}."
    pinned_id = lead.pinned_agent_id
    if pinned_id and pinned_id not in excluded:
        agent = Agent.objects.select_related("user").filter(pk=pinned_id).first()
        if agent:
            return agent, f"The lead source assigned it to {agent}."
    if new_person:
        return None
    current = (
        Lead.objects.filter(contact_id=lead.contact_id, assigned_agent__isnull=False)
        .exclude(pk=lead.pk)
        .exclude(status__in=(Lead.Status.CLOSED_WON, Lead.Status.CLOSED_LOST))
        .select_related("assigned_agent__user")
        .order_by("-assigned_at")
        .first()
    )
    if current and current.assigned_agent and current.assigned_agent.pk not in excluded:
        agent = current.assigned_agent
        if lead.team_id is None or agent.team_id == lead.team_id:
            return agent, f"{agent} already works with this person (lead {current.pk})."
    return None


def _team_for(places: dict[str, str], source: str) -> int | None:
    """A lead with no team takes the team of the most specific territory it falls in; else
    its source's default team (the team whose ``default_for_sources`` names the source, then
    one that says ``"*"``); else the only team. ``None`` only with several teams and none of
    these, which the intake's system check (intake.E310) reports at start-up."""
    if places:
        area_filter = Q()
        for kind, value in places.items():
            area_filter |= Q(kind=kind, value=value)
        areas = sorted(
            TerritoryArea.objects.filter(area_filter).values_list("kind", "territory__team_id"),
            key=lambda row: LEVELS[row[0]],
        )
        if areas:
            return areas[0][1]
    teams = list(Team.objects.order_by("pk").values_list("pk", "default_for_sources"))
    for wanted in (source, "*"):
        for pk, sources in teams:
            if isinstance(sources, list) and wanted in sources:
                return int(pk)
    return teams[0][0] if len(teams) == 1 else None
