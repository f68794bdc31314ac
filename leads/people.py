"""Writes of people (contacts) from the REST API: add, change, tag, delete.

A person belongs to a team through their leads. Adding a person the team does not know
gives them one lead of the caller's source, not routed nor alerted (assigned to the agent
who added them, or to the agent named, or left in the pool), exactly as an import does
(:mod:`leads.bulk`); adding a person who is known (by any email, then any phone) fills in
what the CRM lacks and answers the person who was there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet

from . import bulk, signals
from .models import (
    TAG_MAX_LENGTH,
    Activity,
    Agent,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactTag,
    Lead,
)

API_SOURCE = "api"


@dataclass(frozen=True)
class Added:
    contact: Contact
    created: bool


def person_add(
    *,
    team_id: int,
    actor_id: int | None,
    origin: str,
    first_name: str = "",
    last_name: str = "",
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    tags: Sequence[str] = (),
    agent: Agent | None = None,
    source: str = API_SOURCE,
) -> Added:
    """Add a person to the team (emails and phones already normalised). ``ValueError`` when
    they give neither an email nor a phone."""
    if not emails and not phones:
        raise ValueError("emails: a person needs an email or a phone to be recognised.")
    row = bulk.PersonRow(
        key=f"{source}-{uuid.uuid4().hex}", first_name=first_name[:100], last_name=last_name[:100],
        emails=tuple(dict.fromkeys(emails)), phones=tuple(dict.fromkeys(phones)),
        tags=tuple(dict.fromkeys(t.strip()[:TAG_MAX_LENGTH] for t in tags if t.strip())),
        agent_email=(agent.email or agent.user.email).lower() if agent is not None else "",
    )  # fmt: skip
    (outcome,) = bulk.people_import(
        team_id=team_id, rows=[row], origin=origin, actor_id=actor_id, source=source
    )
    if outcome.kind == bulk.FAIL or outcome.contact_id is None:
        raise ValueError(outcome.reason or "The person could not be added.")
    # people_import announced people_imported: the person's webhooks and marketing push.
    contact = Contact.objects.get(pk=outcome.contact_id)
    return Added(contact, created=outcome.kind == bulk.CREATE)


def people_writable(*, agent: Agent | None, team_id: int) -> QuerySet[Contact]:
    """The people a caller may change: an agent those of the leads assigned to them; a
    manager (``agent.is_manager``) or an integration (``agent`` None) the team's."""
    if agent is not None and not agent.is_manager:
        leads = Lead.objects.filter(assigned_agent_id=agent.pk)
    else:
        leads = Lead.objects.filter(team_id=team_id)
    return Contact.objects.filter(pk__in=leads.values("contact_id"))


@transaction.atomic
def person_update(
    *,
    contact: Contact,
    actor_id: int | None,
    origin: str,
    first_name: str | None = None,
    last_name: str | None = None,
    emails: Sequence[str] | None = None,
    phones: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> list[str]:
    """Change what is given: names set; ``emails``/``phones`` join the person (one another
    person holds is a ``ValueError``; none is taken away); ``tags`` become the person's tags.
    Returns the fields that changed."""
    # FOR NO KEY UPDATE: a row written elsewhere that refers to this person (a status change's
    # timeline entry) is checked at its commit with FOR KEY SHARE, which this lock lets
    # through; FOR UPDATE made both wait on each other (a deadlock).
    contact = Contact.objects.select_for_update(no_key=True).get(pk=contact.pk)
    changed: list[str] = []
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not None and value[:100] != getattr(contact, name):
            setattr(contact, name, value[:100])
            changed.append(name)
    for kind, values in (("emails", emails), ("phones", phones)):
        if values and _join(contact, kind, values):
            changed.append(kind)
        key = kind[:-1]
        if values and not getattr(contact, key):
            setattr(contact, key, values[0])
            changed.append(key)
    if tags is not None:
        wanted = list(dict.fromkeys(t.strip()[:TAG_MAX_LENGTH] for t in tags if t.strip()))
        have = set(ContactTag.objects.filter(contact=contact).values_list("name", flat=True))
        gone = have - set(wanted)
        if gone:
            ContactTag.objects.filter(contact=contact, name__in=gone).delete()
        ContactTag.objects.bulk_create(
            [ContactTag(contact=contact, name=t) for t in wanted if t not in have]
        )
        if gone or set(wanted) - have:
            changed.append("tags")
    if changed:
        contact.save()
        Activity.objects.create(
            contact=contact, actor_id=actor_id, kind=Activity.Kind.CONTACT_UPDATED,
            summary=f"Changed {', '.join(changed)} ({origin})"[:500],
            data={"fields": changed, "origin": origin},
        )  # fmt: skip
        signals.contact_changed.announce(
            sender=Contact, contact=contact, fields=changed, origin=API_SOURCE
        )
    return changed


def _join(contact: Contact, kind: str, values: Sequence[str]) -> list[str]:
    """Give ``contact`` the addresses of ``values`` nobody holds; ``ValueError`` when another
    person holds one. Returns the new ones."""
    if kind == "emails":
        held = dict(
            ContactEmail.objects.filter(email__in=values).values_list("email", "contact_id")
        )
    else:
        held = dict(
            ContactPhone.objects.filter(phone__in=values).values_list("phone", "contact_id")
        )
    taken = [v for v in values if held.get(v, contact.pk) != contact.pk]
    if taken:
        raise ValueError(f"{kind}: {taken[0]} belongs to another person.")
    new = [v for v in dict.fromkeys(values) if v not in held]
    if kind == "emails":
        ContactEmail.objects.bulk_create([ContactEmail(contact=contact, email=v) for v in new])
    else:
        ContactPhone.objects.bulk_create([ContactPhone(contact=contact, phone=v) for v in new])
    return new


@transaction.atomic
def person_delete(*, contact: Contact, team_id: int, actor: object = None) -> int:
    """Delete the person and their leads (each announced as deleted first), when every lead
    of theirs is ``team_id``'s; ``PermissionDenied`` when another team has one. Returns the
    number of leads deleted."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if Lead.objects.filter(contact=contact).filter(~Q(team_id=team_id)).exists():
        raise PermissionDenied("This person has leads of another team: they cannot be deleted.")
    leads = list(Lead.objects.filter(contact=contact).select_related("contact", "assigned_agent"))
    for lead in leads:
        signals.lead_deleted.announce(sender=Lead, lead=lead, actor=actor)
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).delete()
    contact.delete()
    return len(leads)
