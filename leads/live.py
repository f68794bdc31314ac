"""Live screens: what an open inbox, pool, lead page or Today asks every few seconds, cheaply.

The agent's app polls the page it shows (``static/leads/app.js``) with ``If-None-Match``;
the answer is ``304 Not Modified`` until something the agent could see has changed, and
only then the fragment to swap in. "Changed" is read from two stamps, no lead is looked at:

- the **team's** stamp, moved by every change to one of the team's leads (captured,
  assigned, offered, claimed, pooled, escalated, accepted, its status, a note, a contact,
  a reply, a follow-up set or done): an agent's inbox shows the team's pool and a
  manager's the whole team;
- the **agent's** own stamp, moved by a change to a lead given, offered or taken from
  them (also of another team), by a follow-up of theirs set or done (by them elsewhere or
  by their manager) and by their own settings (paused or not, in the header).

Today also changes with the clock alone (a follow-up falls overdue, the day ends): its tag
carries that moment (:func:`etag_until`) and is answered 304 only before it.

The page's ETag is the pair, read *before* the page's rows: a change between the two
reads costs one more render, never a missed one. The stamps are moved after the change's
commit (a poll before it would see the old rows under the new stamp and keep them), once
for all the changes of a transaction, in one statement without Redis.

They live in the ``throttle`` cache, the one every process shares: Redis when
``REDIS_URL`` is set, else the database's cache table. A stamp the cache dropped (Redis
restarted, the table culled) is made afresh: one more render, never a stale 304.

Edges whose change shows on a lead's page (a reply in a conversation) call
:func:`lead_changed` inside their transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from typing import Any

from django.core.cache import BaseCache, caches
from django.db import transaction

from . import signals
from .cache import CounterDatabaseCache
from .models import Agent, Contact, Lead, Task

CACHE_ALIAS = "throttle"
LEAD_SIGNALS = (
    signals.lead_captured,
    signals.lead_assigned,
    signals.lead_offered,
    signals.lead_claimed,
    signals.lead_pooled,
    signals.lead_escalated,
    signals.lead_accepted,
    signals.lead_status_changed,
)


def _cache() -> BaseCache:
    return caches[CACHE_ALIAS]


def _team_key(team_id: int) -> str:
    return f"live:team:{team_id}"


def _agent_key(agent_id: int) -> str:
    return f"live:agent:{agent_id}"


def _token() -> str:
    return secrets.token_hex(6)


def stamps_move(
    *, team_ids: Iterable[int | None] = (), agent_ids: Iterable[int | None] = ()
) -> None:
    """Move the stamps of these teams and agents now (after the change's commit)."""
    _move({_team_key(pk) for pk in team_ids if pk} | {_agent_key(pk) for pk in agent_ids if pk})


def _move(keys: set[str]) -> None:
    if not keys:
        return
    token, cache = _token(), _cache()
    if isinstance(cache, CounterDatabaseCache):
        cache.set_many_now(dict.fromkeys(keys, token))  # one statement, not five a key
    else:
        cache.set_many(dict.fromkeys(keys, token), timeout=None)


def _after_commit(*, team_ids: Iterable[int | None], agent_ids: Iterable[int | None]) -> None:
    """Move these stamps once the current transaction commits, together with every other
    stamp its changes move (a lead captured and assigned in one transaction: one write)."""
    keys = {_team_key(pk) for pk in team_ids if pk} | {_agent_key(pk) for pk in agent_ids if pk}
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _move(keys)
        return
    flush: Any = getattr(connection, "_live_flush", None)
    # One callback per transaction: a new one when the last ran, or was dropped with a
    # transaction that rolled back (its keys go with it).
    if flush is None or flush.done or not any(f[1] is flush for f in connection.run_on_commit):
        pending: set[str] = set()

        def flush() -> None:
            flush.done = True
            _move(pending)

        flush.pending, flush.done = pending, False
        connection._live_flush = flush
        transaction.on_commit(flush)
    flush.pending.update(keys)


def etag(agent: Agent) -> str:
    """The ETag of everything ``agent`` may see now: a weak tag of the two stamps."""
    keys = [_agent_key(agent.pk)]
    if agent.team_id:
        keys.append(_team_key(agent.team_id))
    cache = _cache()
    found = cache.get_many(keys)
    for key in keys:
        if key not in found:
            # Dropped or never set: a fresh stamp (the tag changes: one more render).
            cache.add(key, _token(), timeout=None)
            found[key] = cache.get(key) or _token()
    return 'W/"' + ".".join(str(found[key]) for key in keys) + '"'


def etag_until(tag: str, until: dt.datetime | None) -> str:
    """``tag`` good only until ``until``: the tag of a page that the clock alone changes
    (Today, where a follow-up falls overdue). The moment travels in the tag, so the 304
    still reads no row."""
    if until is None:
        return tag
    return f'{tag[:-1]}.u{int(until.timestamp())}"'


def unchanged(sent: str, tag: str, *, now: dt.datetime) -> bool:
    """Whether the tag a page sent (``If-None-Match``) still names what its agent may see:
    the stamps' ``tag`` itself, or that tag with a moment (:func:`etag_until`) not reached."""
    if sent == tag:
        return True
    head = f"{tag[:-1]}.u"
    if not (sent.startswith(head) and sent.endswith('"')):
        return False
    moment = sent[len(head) : -1]
    return moment.isdigit() and now.timestamp() < int(moment)


def lead_changed(lead: Lead, *, agents: Iterable[Agent | None] = ()) -> None:
    """Tell the open screens that ``lead`` changed, once the current transaction commits:
    its team's, its agent's and those of ``agents`` (e.g. the one it was taken from)."""
    agent_ids = [lead.assigned_agent_id, *(a.pk for a in agents if a)]
    _after_commit(team_ids=[lead.team_id], agent_ids=agent_ids)


def _agents_in(values: Iterable[Any]) -> list[int]:
    """The agents named by a signal's arguments (one agent, or a list of them)."""
    found: list[int] = []
    for value in values:
        if isinstance(value, Agent):
            found.append(value.pk)
        elif isinstance(value, list | tuple):
            found.extend(item.pk for item in value if isinstance(item, Agent))
    return found


def _on_lead(sender: Any, lead: Lead, **kwargs: Any) -> None:
    """In a lead's change: its team, its agent and every agent the signal names (offered,
    taken from, told), moved after the commit."""
    agent_ids = [lead.assigned_agent_id, *_agents_in(kwargs.values())]
    _after_commit(team_ids=[lead.team_id], agent_ids=agent_ids)


def _on_contact(sender: Any, contact: Contact, **kwargs: Any) -> None:
    """A person's name or details changed: the screens of their leads' teams and agents."""
    rows = list(
        Lead.objects.filter(contact=contact).values_list("team_id", "assigned_agent_id")[:100]
    )
    _after_commit(team_ids=[team for team, _ in rows], agent_ids=[agent for _, agent in rows])


def _on_task(sender: Any, task: Task, **kwargs: Any) -> None:
    """A follow-up set or finished: its agent's Today, and the screens of its lead."""
    lead = task.lead
    _after_commit(team_ids=[lead.team_id], agent_ids=[task.agent_id, lead.assigned_agent_id])


def _on_agent(sender: Any, agent: Agent, **kwargs: Any) -> None:
    _after_commit(team_ids=(), agent_ids=[agent.pk])


def connect() -> None:
    """Listen to the domain's signals inside their transactions (the stamps move after the
    commit, once for the whole transaction); from ``LeadsConfig.ready``."""
    for signal in LEAD_SIGNALS:
        signal.in_transaction.connect(_on_lead, dispatch_uid="leads.live")
    signals.contact_changed.in_transaction.connect(_on_contact, dispatch_uid="leads.live")
    signals.agent_settings_changed.in_transaction.connect(_on_agent, dispatch_uid="leads.live")
    for signal in (signals.task_created, signals.task_finished):
        signal.in_transaction.connect(_on_task, dispatch_uid="leads.live")
