"""Fairness of the rotations, as properties over any team, weights and number of leads."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leads.routing import pick_round_robin, pick_weighted


def agents(n: int) -> list[Any]:
    """Stand-ins with a ``pk``: the rotations only read that."""
    return [SimpleNamespace(pk=i + 1, name=f"agent {i + 1}") for i in range(n)]


@given(
    team=st.integers(min_value=1, max_value=12),
    leads=st.integers(min_value=1, max_value=300),
    start=st.integers(min_value=0, max_value=20),
    data=st.data(),
)
def test_round_robin_gives_every_eligible_agent_its_share_within_one(team, leads, start, data):
    people = agents(team)
    eligible_flags = data.draw(st.lists(st.booleans(), min_size=team, max_size=team))
    eligible = [(a.pk, a, 1) for a, ok in zip(people, eligible_flags, strict=True) if ok]
    if not eligible:
        return
    rule: Any = SimpleNamespace(rotation_key=start)
    counts = {a.pk: 0 for _, a, _ in eligible}
    for _ in range(leads):
        agent, rule.rotation_key = pick_round_robin(rule, eligible)
        counts[agent.pk] += 1
    share = leads / len(eligible)
    assert all(abs(n - share) < 1 for n in counts.values()), counts


@given(
    team=st.integers(min_value=2, max_value=8), paused_for=st.integers(min_value=1, max_value=40)
)
def test_a_skipped_agent_takes_their_turn_again_as_soon_as_they_are_back(team, paused_for):
    people = agents(team)
    everyone = [(a.pk, a, 1) for a in people]
    without_first = everyone[1:]
    rule: Any = SimpleNamespace(rotation_key=0)
    for _ in range(paused_for):
        _, rule.rotation_key = pick_round_robin(rule, without_first)
    picks = []
    for _ in range(team):
        agent, rule.rotation_key = pick_round_robin(rule, everyone)
        picks.append(agent.pk)
    assert sorted(picks) == [a.pk for a in people]  # one full turn each, the returner included


@settings(max_examples=500)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=8),
    leads=st.integers(min_value=1, max_value=400),
)
def test_weighted_shares_stay_within_one_of_their_weight_at_every_moment(weights, leads):
    people = agents(len(weights))
    eligible = [(i, a, w) for i, (a, w) in enumerate(zip(people, weights, strict=True))]
    members: dict[int, Any] = {a.pk: SimpleNamespace(credit=0) for a in people}
    counts = {a.pk: 0 for a in people}
    total = sum(weights)
    for n in range(1, leads + 1):
        agent, credits = pick_weighted(members, eligible)
        for pk, credit in credits.items():
            members[pk].credit = credit
        counts[agent.pk] += 1
        for _, a, w in eligible:
            assert abs(counts[a.pk] - n * w / total) < 1, (n, counts, weights)
