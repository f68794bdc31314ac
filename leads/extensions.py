"""Where the edges add to the domain's screens, without the domain knowing them.

The domain renders what is registered here; an edge app registers its contributors from its
``AppConfig.ready()``:

- ``timeline``: functions ``(lead, limit) -> list[TimelineEntry]``, entries the lead's
  timeline shows among its own (an edge's alerts about the lead, say); one query each.
- ``dashboard``: functions ``(team_id, since) -> DashboardPanel | None``, a panel of the
  manager's dashboard (the alerts that failed, say); one query each.
- ``settings_sections``: ``SettingsSection``s, each a fieldset of the agent's own settings
  page (the alert preferences, say), with the form that reads it and the service that saves it.
- ``lead_panels``: functions ``(request, agent, lead) -> LeadPanel | None``, a card of the
  lead page drawn by the contributing app's template (the conversation with the person,
  say); the contributor checks what the user may see.
- ``lead_marks``: functions ``(agent, leads) -> {lead id: [words]}``, marks on the inbox's
  rows ("Unread reply", say); one query for the whole page.
- ``settings_panels``: ``SettingsPanel``s, each a part of the settings page with forms of its
  own, after the settings form (the devices that get push notifications, say).
- ``agent_reads``: ``AgentRead``s, a row of the edge's own, one per agent, that the edge reads
  whenever it hears of an agent routing picked (the alert settings, say): routing loads it
  with the agents, in the same query, instead of one query per agent afterwards.

Registering is keyed by name, so a second registration of the same name replaces the first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .models import Agent, Lead

if TYPE_CHECKING:
    from django import forms

Contributor = TypeVar("Contributor")


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str
    title: str
    actor: str = ""
    details: list[str] = field(default_factory=list)
    tone: str = ""
    # Routing entries: the agent the lead went to (empty for an offer or the pool).
    agent: str = ""
    # On a person's page, which of their inquiries the entry is about ("Buyer via zillow").
    inquiry: str = ""


@dataclass(frozen=True)
class DashboardPanel:
    """A card of the manager's dashboard: its title, the template that draws its ``rows``
    (a template of the contributing app), and what to say when there are none."""

    title: str
    template: str
    rows: list[Any]
    empty: str = "None in this period."


@dataclass(frozen=True)
class SettingsSection:
    """A fieldset of the agent's settings page: its ``title``; ``form(agent, data)``, the form
    for the agent (bound when ``data``, the POST, is given); ``save(form, agent, actor)``,
    which writes a valid form's values and returns what changed, in words (the page writes
    them to the agent's history with the rest)."""

    title: str
    form: Callable[[Agent, Any], forms.Form]
    save: Callable[[forms.Form, Agent, Agent], list[str]]


@dataclass(frozen=True)
class LeadPanel:
    """A card of the lead page: the contributing app's ``template``, drawn with ``context``
    (and the page's own: ``lead``, ``agent``, ``access``)."""

    template: str
    context: dict[str, Any]


@dataclass(frozen=True)
class SettingsPanel:
    """A part of the agent's settings page with its own forms and buttons: its ``template``
    (the contributing app's), drawn with ``panel`` = ``context(agent)``."""

    template: str
    context: Callable[[Agent], dict[str, Any]]


@dataclass(frozen=True)
class AgentRead:
    """An edge's one-to-one row of an agent: its ``relation`` (the name on ``Agent``) and the
    ``fields`` read of it. An agent without the row reads as the edge's defaults."""

    relation: str
    fields: tuple[str, ...]


class Registry(Generic[Contributor]):
    """Named contributors, in the order they were registered."""

    def __init__(self) -> None:
        self._items: dict[str, Contributor] = {}

    def register(self, name: str, contributor: Contributor) -> None:
        self._items[name] = contributor

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def __iter__(self) -> Iterator[Contributor]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)


timeline: Registry[Callable[[Lead, int], list[TimelineEntry]]] = Registry()
dashboard: Registry[Callable[[int, dt.datetime], DashboardPanel | None]] = Registry()
settings_sections: Registry[SettingsSection] = Registry()
lead_panels: Registry[Callable[[Any, Agent, Lead], LeadPanel | None]] = Registry()
lead_marks: Registry[Callable[[Agent, list[Lead]], dict[int, list[str]]]] = Registry()


def lead_panels_for(*, request: Any, agent: Agent, lead: Lead) -> list[LeadPanel]:
    """The cards the registered contributors add to ``lead``'s page for this user."""
    return [panel for contribute in lead_panels if (panel := contribute(request, agent, lead))]


def marks_for(*, agent: Agent, leads: list[Lead]) -> None:
    """Set ``edge_marks`` (a list of words) on each of ``leads``, for the inbox's rows."""
    found: dict[int, list[str]] = {}
    for contribute in lead_marks:
        for pk, words in contribute(agent, leads).items():
            found.setdefault(pk, []).extend(words)
    for lead in leads:
        lead.edge_marks = found.get(lead.pk, [])  # type: ignore[attr-defined]


settings_panels: Registry[SettingsPanel] = Registry()
agent_reads: Registry[AgentRead] = Registry()


def agent_read_paths(prefix: str = "") -> tuple[list[str], list[str]]:
    """For a query of agents (through ``prefix``, e.g. ``"agent__"``): the relations to
    ``select_related`` and the fields to load (``only``) of every registered ``AgentRead``."""
    relations = [f"{prefix}{read.relation}" for read in agent_reads]
    fields = [f"{prefix}{read.relation}__{name}" for read in agent_reads for name in read.fields]
    return relations, fields


def timeline_entries(*, lead: Lead, limit: int) -> list[TimelineEntry]:
    """What every registered contributor adds to ``lead``'s timeline."""
    return [entry for contribute in timeline for entry in contribute(lead, limit)]


def dashboard_panels(*, team_id: int, since: dt.datetime) -> list[DashboardPanel]:
    """The panels the registered contributors add to a team's dashboard since ``since``."""
    return [panel for contribute in dashboard if (panel := contribute(team_id, since))]
