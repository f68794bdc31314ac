"""Choosing the agent for a lead.

The whole policy sits behind :func:`route`, so the routing engine can replace it without
touching its callers. Today: the lead goes to the territory that lists its ZIP code (highest
priority first, then the oldest), to the first active, unpaused agent of that territory; with
no such territory or agent it stays unassigned in the team's pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Agent, Lead, Territory


@dataclass(frozen=True)
class Decision:
    """Where a lead goes and why. ``agent`` is ``None`` when it stays in the pool."""

    agent: Agent | None
    team_id: int | None
    reason: str
    territory: Territory | None = None


def route(lead: Lead) -> Decision:
    """Decide who gets ``lead``; reads only, writes nothing."""
    zip_code = lead.property_zip
    territories = Territory.objects.order_by("-priority", "pk")
    if lead.team_id is not None:
        territories = territories.filter(team_id=lead.team_id)
    territory = next((t for t in territories if zip_code and zip_code in t.zip_codes), None)
    if territory is None:
        where = f"ZIP {zip_code}" if zip_code else "no ZIP code"
        return Decision(None, lead.team_id, f"No territory covers {where}: left in the pool.")
    agent = (
        territory.agents.filter(is_active=True, is_paused=False, user__is_active=True)
        .order_by("pk")
        .first()
    )
    if agent is None:
        return Decision(
            None,
            territory.team_id,
            f"Territory {territory.name} covers ZIP {zip_code} but has no available agent: "
            "left in the pool.",
            territory,
        )
    return Decision(
        agent,
        territory.team_id,
        f"Territory {territory.name} covers ZIP {zip_code}; {agent} is its first available agent.",
        territory,
    )
