"""The agent's own lead email addresses, shown on their settings page (``leads.extensions``):
leads mailed or forwarded to them are pinned to the agent."""

from __future__ import annotations

from typing import Any

from django import forms

from leads.extensions import SettingsSection
from leads.models import Agent

from .addresses import agent_address, team_address


class LeadAddressForm(forms.Form):
    """Read-only: the addresses are made from the team's and the agent's slugs (the admin
    changes those); nothing here is saved."""

    lead_address = forms.CharField(
        label="Your lead email address",
        required=False,
        disabled=True,
        help_text="Give it to lead portals and your website, or forward inquiries to it: the "
        "leads are yours. Your team's address brings leads to the whole team.",
    )
    team_address = forms.CharField(label="Your team's lead address", required=False, disabled=True)


def lead_address_form(agent: Agent, data: Any) -> forms.Form:
    unset = "(not set up: EMAIL_INTAKE_DOMAIN)"
    initial = {
        "lead_address": agent_address(agent) or unset,
        "team_address": team_address(agent.team) or unset,
    }
    return LeadAddressForm(data, initial=initial)


def lead_address_save(form: forms.Form, agent: Agent, actor: Agent) -> list[str]:
    return []


SECTION = SettingsSection(title="Lead email", form=lead_address_form, save=lead_address_save)
