"""Where the edges add to the domain's screens, without the domain knowing them.

The domain renders what is registered here; an edge app registers its contributors from its
``AppConfig.ready()``:

- ``timeline``: functions ``(lead, limit) -> list[TimelineEntry]``, entries the lead's
  timeline shows among its own (an edge's alerts about the lead, say); one query each.
- ``dashboard``: functions ``(team_id, since) -> DashboardPanel | None``, a panel of the
  manager's dashboard (the alerts that failed, say); one query each.
- ``settings_sections``: ``SettingsSection``s, each a fieldset of the agent's own settings
  page (the alert preferences, say), with the form that reads it and the service that saves it.

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


def timeline_entries(*, lead: Lead, limit: int) -> list[TimelineEntry]:
    """What every registered contributor adds to ``lead``'s timeline."""
    return [entry for contribute in timeline for entry in contribute(lead, limit)]


def dashboard_panels(*, team_id: int, since: dt.datetime) -> list[DashboardPanel]:
    """The panels the registered contributors add to a team's dashboard since ``since``."""
    return [panel for contribute in dashboard if (panel := contribute(team_id, since))]
