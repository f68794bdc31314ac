"""Whom an email is for: ``<team-slug>@EMAIL_INTAKE_DOMAIN`` is the team's lead address,
``<team-slug>+<agent-slug>@EMAIL_INTAKE_DOMAIN`` an agent's own (the lead is pinned to them).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from leads.models import Agent, Team

from .message import split_address


@dataclass(frozen=True)
class Recipient:
    address: str
    team: Team | None = None
    agent: Agent | None = None

    @property
    def known(self) -> bool:
        return self.team is not None


def team_address(team: Team) -> str:
    """The team's lead address; ``""`` while ``EMAIL_INTAKE_DOMAIN`` is unset."""
    domain = settings.EMAIL_INTAKE_DOMAIN
    return f"{team.slug}@{domain}" if domain and team.slug else ""


def agent_address(agent: Agent) -> str:
    """The agent's own lead address (leads to it are pinned to them); ``""`` when unset."""
    domain = settings.EMAIL_INTAKE_DOMAIN
    if not (domain and agent.slug and agent.team.slug):
        return ""
    return f"{agent.team.slug}+{agent.slug}@{domain}"


def recipient_resolve(candidates: list[str]) -> Recipient:
    """The first of ``candidates`` (addresses, in the order they are believed) that is a lead
    address of ours, with its team and agent; else the first candidate, unknown.

    An agent part that names nobody in the team still brings the lead to the team (a typo
    should not lose a lead); an inactive agent's address does too, unpinned.
    """
    domain = settings.EMAIL_INTAKE_DOMAIN
    for address in candidates:
        local, at = split_address(address)
        if not domain or at != domain or not local:
            continue
        team_slug, _, agent_slug = local.partition("+")
        team = Team.objects.filter(slug=team_slug).first()
        if team is None:
            continue
        agent = None
        if agent_slug:
            agent = Agent.objects.filter(team=team, slug=agent_slug, is_active=True).first()
        return Recipient(address, team, agent)
    return Recipient(candidates[0] if candidates else "")
