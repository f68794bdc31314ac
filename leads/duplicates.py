"""People who are the same: found for a manager, merged in one step, unmerged within a day.

Two of a team's people are the same when they share an email or a phone (a primary address
of one held by the other too, or the same primary address), or when they have close names
(the same last name, first names alike) and leads at the same address.

A merge moves everything of the other person to the survivor: leads, timeline, consents,
email addresses, phones and tags; the survivor's blanks are filled from the other; the
marketing status and the consents follow the strictest of the two (a refusal wins). It is
recorded (:class:`~leads.models.PersonMerge`, with every row it moved), announced
(``people_merged``: the webhooks' ``person.merged``, the marketing push) and can be undone
for a day: every moved row goes back, the other person comes back with their own id.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from . import signals
from .models import (
    Activity,
    Consent,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactTag,
    Lead,
    PersonMerge,
)
from .normalize import fold

UNDO_WINDOW = dt.timedelta(days=1)
# From the most permissive to the strictest: a merge keeps the stricter of the two.
STRICTNESS = ["unknown", "subscribed", "pending", "transactional", "unsubscribed", "cleaned"]
PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "marketing_status")
MOVED: dict[str, Any] = {
    "leads": Lead,
    "activities": Activity,
    "consents": Consent,
    "emails": ContactEmail,
    "phones": ContactPhone,
    "tags": ContactTag,
}


@dataclass
class Pair:
    """Two people who look the same, and why."""

    first: Contact
    second: Contact
    reasons: list[str] = field(default_factory=list)


def _team_people(team_id: int) -> Any:
    return Contact.objects.filter(pk__in=Lead.objects.filter(team_id=team_id).values("contact_id"))


def duplicates_find(*, team_id: int, limit: int = 50) -> list[Pair]:
    """Pairs of the team's people who look the same (at most ``limit``), each with why."""
    people = _team_people(team_id)
    found: dict[tuple[int, int], list[str]] = defaultdict(list)

    def add(a: int, b: int, reason: str) -> None:
        if a != b and reason not in found[(min(a, b), max(a, b))]:
            found[(min(a, b), max(a, b))].append(reason)

    for column, word in (("email", "email"), ("phone", "phone")):
        shared = (
            people.exclude(**{column: ""})
            .values(column)
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .values_list(column, flat=True)[: limit * 2]
        )
        groups: dict[str, list[int]] = defaultdict(list)
        for pk, value in people.filter(**{f"{column}__in": list(shared)}).values_list("pk", column):
            groups[value].append(pk)
        for value, ids in groups.items():
            for other in ids[1:]:
                add(ids[0], other, f"same {word} {value}")
    # A primary address of one person that another holds among theirs.
    for model, column, word in ((ContactEmail, "email", "email"), (ContactPhone, "phone", "phone")):
        rows = model.objects.filter(contact__in=people).filter(
            **{f"{column}__in": people.exclude(**{column: ""}).values(column)}
        )
        holders = {value: holder for holder, value in rows.values_list("contact_id", column)}
        owners = people.filter(**{f"{column}__in": list(holders)}).values_list("pk", column)
        for pk, value in owners[: limit * 2]:
            add(pk, holders[value], f"same {word} {value}")
    _close_names_same_address(team_id, add, limit)
    contacts = Contact.objects.in_bulk(list({pk for pair in found for pk in pair}))
    pairs = [
        Pair(contacts[a], contacts[b], reasons)
        for (a, b), reasons in sorted(found.items())
        if a in contacts and b in contacts
    ]
    return pairs[:limit]


def _address_key(text: str) -> str:
    return " ".join((fold(text) or "").replace(".", " ").replace(",", " ").split())


def _close_names_same_address(team_id: int, add: Any, limit: int) -> None:
    """People with leads at the same address whose names are close."""
    leads = Lead.objects.filter(team_id=team_id).exclude(property_address="")
    shared = (
        leads.values("property_address")
        .annotate(n=Count("contact_id", distinct=True))
        .filter(n__gt=1)
        .values_list("property_address", flat=True)[: limit * 2]
    )
    by_address: dict[str, set[int]] = defaultdict(set)
    rows = leads.filter(property_address__in=list(shared)).values_list(
        "property_address", "contact_id"
    )
    for address, contact_id in rows:
        by_address[_address_key(address)].add(contact_id)
    names = dict(
        Contact.objects.filter(pk__in={c for ids in by_address.values() for c in ids}).values_list(
            "pk", "search_name"
        )
    )
    for address, ids in by_address.items():
        ordered = sorted(ids)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if _close(names.get(a) or "", names.get(b) or ""):
                    add(a, b, f"close names at {address}")


def _close(a: str, b: str) -> bool:
    """Same last name and first names alike ("jon smith" and "jonathan smith")."""
    first_a, _, last_a = a.rpartition(" ")
    first_b, _, last_b = b.rpartition(" ")
    if not last_a or last_a != last_b:
        return False
    if not first_a or not first_b:
        return True
    if first_a.startswith(first_b) or first_b.startswith(first_a):
        return True
    return difflib.SequenceMatcher(None, first_a, first_b).ratio() >= 0.75


def _stricter(a: str, b: str) -> str:
    rank = {status: n for n, status in enumerate(STRICTNESS)}
    return a if rank.get(a, 0) >= rank.get(b, 0) else b


@transaction.atomic
def people_merge(
    *, team_id: int, survivor: Contact, other: Contact, actor: Any = None, reason: str = ""
) -> PersonMerge:
    """Merge ``other`` into ``survivor`` (both the team's people); ``ValueError`` when they
    are one person already, or ``other`` has leads of another team (not the manager's)."""
    if survivor.pk == other.pk:
        raise ValueError("A person cannot be merged into themselves.")
    locked = {
        c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[survivor.pk, other.pk])
    }
    if len(locked) != 2:
        raise ValueError("One of the two people is gone.")
    survivor, other = locked[survivor.pk], locked[other.pk]
    team_people = _team_people(team_id)
    if team_people.filter(pk__in=[survivor.pk, other.pk]).count() != 2:
        raise ValueError("Both people must be your team's.")
    if Lead.objects.filter(contact=other).filter(~Q(team_id=team_id)).exists():
        raise ValueError("This person also has another team's leads: merge them the other way.")
    now = timezone.now()
    record: dict[str, Any] = {
        "other": {name: getattr(other, name) for name in PERSON_FIELDS},
        "other_created_at": other.created_at.isoformat(),
        "survivor_before": {name: getattr(survivor, name) for name in PERSON_FIELDS},
        "moved": {},
        "tags_dropped": [],
        "consents_added": [],
    }
    have_tags = set(ContactTag.objects.filter(contact=survivor).values_list("name", flat=True))
    doubles = ContactTag.objects.filter(contact=other, name__in=have_tags)
    record["tags_dropped"] = list(doubles.values_list("name", flat=True))
    doubles.delete()
    # The announcement first: edges move their rows of the other person while it exists.
    merge = PersonMerge.objects.create(
        team_id=team_id, survivor=survivor, merged_id=other.pk, reason=reason[:200],
        actor=actor if getattr(actor, "pk", None) else None, record={},
    )  # fmt: skip
    for name, model in MOVED.items():
        ids = list(model.objects.filter(contact=other).values_list("pk", flat=True))
        model.objects.filter(pk__in=ids).update(contact=survivor)
        record["moved"][name] = ids
    record["consents_added"] = _strictest_consents(survivor, now)
    for name in ("first_name", "last_name", "email", "phone"):
        if not getattr(survivor, name) and getattr(other, name):
            setattr(survivor, name, getattr(other, name))
    survivor.marketing_status = _stricter(survivor.marketing_status, other.marketing_status)
    survivor.save()
    merge.record = record
    merge.save(update_fields=["record"])
    Activity.objects.create(
        contact=survivor, actor=merge.actor, kind=Activity.Kind.CONTACT_UPDATED,
        summary=f"Merged {other} (person {other.pk}) into this person"[:500],
        data={"merge": merge.pk, "merged_id": other.pk, "reason": reason[:200]},
    )  # fmt: skip
    signals.people_merged.announce(
        sender=Contact, survivor=survivor, merged_id=other.pk, merge=merge
    )
    other.delete()
    return merge


def _strictest_consents(contact: Contact, now: dt.datetime) -> list[int]:
    """Per channel, when one of the two refused and the latest word is a grant, a refusal
    is recorded: the strictest wins. Returns the consents added."""
    latest: dict[str, Consent] = {}
    refused: dict[str, Consent] = {}
    for consent in Consent.objects.filter(contact=contact).order_by("obtained_at", "pk"):
        latest[consent.channel] = consent
        if not consent.granted:
            refused[consent.channel] = consent
    added = []
    for channel, consent in latest.items():
        if consent.granted and channel in refused:
            refusal = refused[channel]
            added.append(
                Consent.objects.create(
                    contact=contact, channel=channel, granted=False, obtained_at=now,
                    origin="merge: the stricter answer of two merged people",
                    text=refusal.text,
                    evidence={"refusal": refusal.pk, "refused_at": refusal.obtained_at.isoformat()},
                ).pk
            )  # fmt: skip
    return added


def undoable(merge: PersonMerge, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return merge.undone_at is None and merge.created_at >= now - UNDO_WINDOW


@transaction.atomic
def people_unmerge(*, merge: PersonMerge, actor: Any = None) -> Contact:
    """Undo ``merge`` within a day: the other person back with their id and fields, every
    row the merge moved back to them, the survivor as they were. ``ValueError`` after."""
    merge = PersonMerge.objects.select_for_update().get(pk=merge.pk)
    if not undoable(merge):
        raise ValueError("A merge can be undone for a day, once.")
    record = merge.record
    survivor = Contact.objects.select_for_update().get(pk=merge.survivor_id)
    other = Contact(pk=merge.merged_id, **record["other"])
    other.save(force_insert=True)
    Contact.objects.filter(pk=other.pk).update(
        created_at=dt.datetime.fromisoformat(record["other_created_at"])
    )
    for name, model in MOVED.items():
        model.objects.filter(pk__in=record["moved"].get(name, []), contact=survivor).update(
            contact=other
        )
    ContactTag.objects.bulk_create(
        [ContactTag(contact=other, name=name) for name in record["tags_dropped"]],
        ignore_conflicts=True,
    )
    Consent.objects.filter(pk__in=record["consents_added"]).delete()
    for name, value in record["survivor_before"].items():
        setattr(survivor, name, value)
    survivor.save()
    merge.undone_at = timezone.now()
    merge.save(update_fields=["undone_at"])
    Activity.objects.create(
        contact=survivor, actor=actor if getattr(actor, "pk", None) else None,
        kind=Activity.Kind.CONTACT_UPDATED,
        summary=f"Undid the merge of {other} (person {other.pk})"[:500],
        data={"merge": merge.pk, "unmerged_id": other.pk},
    )  # fmt: skip
    signals.people_unmerged.announce(sender=Contact, survivor=survivor, restored=other, merge=merge)
    return other
