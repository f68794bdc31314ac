"""People brought in by the hundred (an import from another CRM): planned, then written, a
chunk at a time in a fixed number of queries.

A row is a person as the file gives them (:class:`PersonRow`, already validated by the
importer). Each is matched to someone we know by any of their email addresses, then by any
of their phones, exactly as a captured lead is (:func:`leads.services.lead_capture`), or to
a person an earlier row of the same chunk made; otherwise it makes a new person. A known
person gets only what they lack (a blank name, an address nobody holds, tags, consents):
an import never overwrites what the CRM knows.

A person the team has no lead for gets one lead of source ``import`` (so the team sees them
in its lists): assigned to the agent the row names, or left in the team's pool, and **not
routed nor alerted**, with no acceptance deadline. ``route=True`` ("route these as new
leads") sends each row through :func:`leads.services.lead_capture` instead: routed and
alerted as any new lead.

:func:`people_plan` says what :func:`people_import` would do, without writing (the dry run).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import signals
from .data import ConsentData, LeadData
from .models import (
    TAG_MAX_LENGTH,
    Activity,
    Agent,
    Consent,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactTag,
    Lead,
)

CREATE, UPDATE, MATCH, FAIL = "create", "update", "match", "fail"
IMPORT_SOURCE = "import"
# What a row may set on the lead it makes (the rest are the lead's defaults).
LEAD_FIELDS = (
    "lead_type", "status", "message", "property_address", "property_city", "property_state",
    "property_zip", "mls_number", "price", "received_at", "source_detail",
)  # fmt: skip
NAME_FIELDS = ("first_name", "last_name")


@dataclass(frozen=True)
class PersonRow:
    """One person of a file. ``key`` is the row's own id ("import-12-345"): the external id of
    the lead it makes, so the same row written twice makes one lead."""

    key: str
    first_name: str = ""
    last_name: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    consents: tuple[ConsentData, ...] = ()
    agent_email: str = ""
    lead: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    kind: str  # create, update, match or fail
    reason: str = ""
    contact_id: int | None = None
    lead_id: int | None = None


@dataclass
class _Plan:
    """What one row comes to: its outcome, whom it matched (a contact id, or the index of an
    earlier row of the chunk that makes a new person), and what it adds to them."""

    outcome: Outcome
    contact_id: int | None = None
    same_as: int | None = None
    fill: dict[str, str] = field(default_factory=dict)
    new_emails: list[str] = field(default_factory=list)
    new_phones: list[str] = field(default_factory=list)
    new_tags: list[str] = field(default_factory=list)
    agent_id: int | None = None

    @property
    def cid(self) -> int:
        """The person's id, once they have one (every row that does not fail, when written)."""
        assert self.contact_id is not None
        return self.contact_id


class _Chunk:
    def __init__(
        self,
        team_id: int,
        rows: Sequence[PersonRow],
        *,
        pending_emails: frozenset[str] = frozenset(),
        pending_phones: frozenset[str] = frozenset(),
        source: str = IMPORT_SOURCE,
    ) -> None:
        self.source = source
        self.team_id = team_id
        self.rows = rows
        # Keys earlier chunks of the same file will have given someone (the dry run only).
        self.pending_emails = pending_emails
        self.pending_phones = pending_phones

    def plan(self) -> list[_Plan]:
        emails = {e for row in self.rows for e in row.emails}
        phones = {p for row in self.rows for p in row.phones}
        email_owner = dict(
            ContactEmail.objects.filter(email__in=emails).values_list("email", "contact_id")
        )
        phone_owner = dict(
            ContactPhone.objects.filter(phone__in=phones).values_list("phone", "contact_id")
        )
        known_ids = set(email_owner.values()) | set(phone_owner.values())
        contacts = {
            c.pk: c
            for c in Contact.objects.filter(pk__in=known_ids).only(
                "first_name", "last_name", "email", "phone"
            )
        }
        wanted_tags = {t for row in self.rows for t in row.tags}
        tags_had = set(
            ContactTag.objects.filter(contact_id__in=known_ids, name__in=wanted_tags).values_list(
                "contact_id", "name"
            )
        )
        agents = self._agents({row.agent_email for row in self.rows if row.agent_email})
        # Keys given to a person by an earlier row of this chunk: (contact id, or -1 - index).
        email_here: dict[str, int] = {}
        phone_here: dict[str, int] = {}
        plans: list[_Plan] = []
        for index, row in enumerate(self.rows):
            if row.agent_email and row.agent_email not in agents:
                reason = f"agent: nobody on the team has the address {row.agent_email}"
                plans.append(_Plan(Outcome(FAIL, reason)))
                continue
            owner = next((email_owner[e] for e in row.emails if e in email_owner), None)
            if owner is None:
                owner = next((phone_owner[p] for p in row.phones if p in phone_owner), None)
            if owner is None:
                owner = next((email_here[e] for e in row.emails if e in email_here), None)
            if owner is None:
                owner = next((phone_here[p] for p in row.phones if p in phone_here), None)
            plan = _Plan(Outcome(CREATE), agent_id=agents.get(row.agent_email))
            plan.new_emails = [
                e for e in row.emails if e not in email_owner and e not in email_here
            ]
            plan.new_phones = [
                p for p in row.phones if p not in phone_owner and p not in phone_here
            ]
            if owner is None:
                pending = set(row.emails) & self.pending_emails or set(row.phones) & (
                    self.pending_phones
                )
                if pending:
                    plan.outcome = Outcome(MATCH, "the same person as an earlier row")
                plan.new_tags = list(row.tags)
                owner = -1 - index
            elif owner >= 0:
                contact = contacts[owner]
                plan.contact_id = owner
                plan.outcome.contact_id = owner
                given = {
                    "first_name": row.first_name,
                    "last_name": row.last_name,
                    "email": next(iter(row.emails), ""),
                    "phone": next(iter(row.phones), ""),
                }
                plan.fill = {k: v for k, v in given.items() if v and not getattr(contact, k)}
                plan.new_tags = [t for t in row.tags if (owner, t) not in tags_had]
                changed = bool(plan.fill or plan.new_emails or plan.new_phones or plan.new_tags)
                plan.outcome.kind = UPDATE if changed or row.consents else MATCH
            else:
                plan.same_as = -1 - owner
                first = plans[plan.same_as]
                plan.new_tags = [t for t in row.tags if t not in first.new_tags]
                changed = bool(plan.new_emails or plan.new_phones or plan.new_tags or row.consents)
                plan.outcome = Outcome(
                    UPDATE if changed else MATCH,
                    f"the same person as row {self.rows[plan.same_as].key.rsplit('-', 1)[-1]}",
                )
            for e in row.emails:
                email_here.setdefault(e, owner)
            for p in row.phones:
                phone_here.setdefault(p, owner)
            plans.append(plan)
        return plans

    def _agents(self, addresses: set[str]) -> dict[str, int]:
        """The team's active agents by their address (their profile's or their sign-in's)."""
        if not addresses:
            return {}
        found = Agent.objects.filter(
            Q(email__in=addresses) | Q(user__email__in=addresses),
            team_id=self.team_id,
            is_active=True,
        ).values_list("pk", "email", "user__email")
        by_address: dict[str, int] = {}
        for pk, email, user_email in found:
            for address in (email, user_email):
                if address:
                    by_address.setdefault(address.lower(), pk)
        return by_address

    def apply(self, *, origin: str, actor_id: int | None, now: dt.datetime) -> list[Outcome]:
        plans = self.plan()
        # New people first: their ids are needed by everything else.
        creators = [i for i, p in enumerate(plans) if p.outcome.kind != FAIL and p.contact_id
                    is None and p.same_as is None]  # fmt: skip
        made = Contact.objects.bulk_create(
            Contact(
                first_name=self.rows[i].first_name[:100],
                last_name=self.rows[i].last_name[:100],
                email=next(iter(self.rows[i].emails), ""),
                phone=next(iter(self.rows[i].phones), ""),
            )
            for i in creators
        )
        for i, contact in zip(creators, made, strict=True):
            plans[i].contact_id = contact.pk
        for plan in plans:
            if plan.same_as is not None:
                plan.contact_id = plans[plan.same_as].contact_id
            plan.outcome.contact_id = plan.contact_id
        live = [(row, p) for row, p in zip(self.rows, plans, strict=True) if p.outcome.kind != FAIL]
        ContactEmail.objects.bulk_create(
            [ContactEmail(contact_id=p.cid, email=e) for _, p in live for e in p.new_emails],
            ignore_conflicts=True,
        )
        ContactPhone.objects.bulk_create(
            [ContactPhone(contact_id=p.cid, phone=n) for _, p in live for n in p.new_phones],
            ignore_conflicts=True,
        )
        ContactTag.objects.bulk_create(
            [
                ContactTag(contact_id=p.cid, name=t[:TAG_MAX_LENGTH])
                for _, p in live
                for t in p.new_tags
            ],
            ignore_conflicts=True,
        )
        filled = self._fill_blanks([p for _, p in live if p.fill], now)
        leads = self._leads(live, origin, now)
        Consent.objects.bulk_create(
            Consent(
                contact_id=p.cid, lead_id=leads.get(p.cid), channel=c.channel,
                granted=c.granted, text=c.text, origin=origin[:120], evidence=c.evidence,
                obtained_at=c.obtained_at,
            )
            for row, p in live
            for c in row.consents
        )  # fmt: skip
        entries = []
        for row, p in live:
            lead_id = leads.get(p.cid)
            p.outcome.lead_id = lead_id
            if lead_id is not None and leads.made_by.get(p.cid) == row.key:
                entries.append(
                    Activity(
                        contact_id=p.cid, lead_id=lead_id, actor_id=actor_id,
                        kind=Activity.Kind.RECEIVED, summary=f"Imported from {origin}"[:500],
                        data={"source": self.source, "external_id": row.key},
                    )
                )  # fmt: skip
            if p.fill and p.cid in filled:
                entries.append(
                    Activity(
                        contact_id=p.cid, actor_id=actor_id,
                        kind=Activity.Kind.CONTACT_UPDATED,
                        summary=f"Filled in {', '.join(p.fill)} from {origin}"[:500],
                        data={"fields": list(p.fill), "origin": self.source},
                    )
                )  # fmt: skip
        Activity.objects.bulk_create(entries)
        created = sorted({p.cid for _, p in live if p.outcome.kind == CREATE})
        updated = sorted({p.cid for _, p in live if p.outcome.kind == UPDATE} - set(created))
        if created or updated:
            signals.people_imported.announce(
                sender=Contact, created=created, updated=updated, origin=self.source
            )
        return [p.outcome for p in plans]

    def _fill_blanks(self, plans: list[_Plan], now: dt.datetime) -> set[int]:
        """Blank names and primary addresses filled, one UPDATE per field set."""
        if not plans:
            return set()
        contacts = Contact.objects.in_bulk([p.cid for p in plans])
        changed: dict[int, Contact] = {}
        for plan in plans:
            contact = contacts[plan.cid]
            for name, value in plan.fill.items():
                if not getattr(contact, name):
                    setattr(contact, name, value[:100])
                    changed[contact.pk] = contact
        for contact in changed.values():
            contact.updated_at = now
        Contact.objects.bulk_update(
            list(changed.values()), ["first_name", "last_name", "email", "phone", "updated_at"]
        )
        return set(changed)

    def _leads(self, live: list[tuple[PersonRow, _Plan]], origin: str, now: dt.datetime) -> _Leads:
        """A lead for each person the team has none for (made by their first row here)."""
        ids = {p.cid for _, p in live}
        have = dict(
            Lead.objects.filter(team_id=self.team_id, contact_id__in=ids)
            .order_by("contact_id", "-received_at")
            .values_list("contact_id", "pk")
        )
        leads = _Leads(have)
        wanted: dict[int, tuple[PersonRow, _Plan]] = {}
        for row, p in live:
            if p.cid not in have and p.cid not in wanted:
                wanted[p.cid] = (row, p)
        made = Lead.objects.bulk_create(
            self._lead(row, p, origin, now) for row, p in wanted.values()
        )
        for contact_id, lead in zip(wanted, made, strict=True):
            leads[contact_id] = lead.pk
            leads.made_by[contact_id] = wanted[contact_id][0].key
        return leads

    def _lead(self, row: PersonRow, plan: _Plan, origin: str, now: dt.datetime) -> Lead:
        values = {k: v for k, v in row.lead.items() if k in LEAD_FIELDS and v not in ("", None)}
        values.setdefault("received_at", now)
        values.setdefault("source_detail", origin[:120])
        if plan.agent_id is not None:
            values.update(assigned_agent_id=plan.agent_id, assigned_at=now)
        return Lead(
            contact_id=plan.cid, team_id=self.team_id, source=self.source,
            external_id=row.key, **values,
        )  # fmt: skip


class _Leads(dict[int, int]):
    """Contact id to the lead the team has for them; ``made_by``: the row that made it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.made_by: dict[int, str] = {}


def people_plan(
    *,
    team_id: int,
    rows: Sequence[PersonRow],
    pending_emails: frozenset[str] = frozenset(),
    pending_phones: frozenset[str] = frozenset(),
) -> list[Outcome]:
    """What :func:`people_import` would do with each row, writing nothing (the dry run).
    ``pending_*``: addresses earlier rows of the file give people (those rows not written)."""
    chunk = _Chunk(team_id, rows, pending_emails=pending_emails, pending_phones=pending_phones)
    return [plan.outcome for plan in chunk.plan()]


def people_import(
    *,
    team_id: int,
    rows: Sequence[PersonRow],
    origin: str,
    actor_id: int | None = None,
    route: bool = False,
    now: dt.datetime | None = None,
    source: str = IMPORT_SOURCE,
) -> list[Outcome]:
    """Write ``rows`` (one chunk) in one transaction; each row's outcome, in order.

    ``origin`` says where the people came from ("contacts.csv, imported by Mona"): the leads'
    source detail, the consents' origin, the timeline's words. ``route``: each row becomes a
    new lead through :func:`leads.services.lead_capture`, routed and alerted.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if not route:
            chunk = _Chunk(team_id, rows, source=source)
            return chunk.apply(origin=origin, actor_id=actor_id, now=now)
        return _route(team_id, rows, origin, now)


def _route(team_id: int, rows: Sequence[PersonRow], origin: str, now: dt.datetime) -> list[Outcome]:
    from .services import lead_capture

    plans = _Chunk(team_id, rows).plan()
    for row, plan in zip(rows, plans, strict=True):
        if plan.outcome.kind == FAIL:
            continue
        lead_values = {
            k: v
            for k, v in row.lead.items()
            if k in LeadData.LEAD_FIELDS and k != "source_detail" and v not in ("", None)
        }
        data = LeadData(
            source=IMPORT_SOURCE, external_id=row.key, received_at=now, team_id=team_id,
            source_detail=origin[:120], first_name=row.first_name[:100],
            last_name=row.last_name[:100], email=next(iter(row.emails), ""),
            phone=next(iter(row.phones), ""), emails=row.emails[1:], phones=row.phones[1:],
            tags=row.tags, consents=row.consents, pinned_agent_id=plan.agent_id, **lead_values,
        )  # fmt: skip
        lead = lead_capture(data=data).lead
        plan.outcome.contact_id, plan.outcome.lead_id = lead.contact_id, lead.pk
    return [plan.outcome for plan in plans]
