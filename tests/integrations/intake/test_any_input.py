"""Any body at any door, on PostgreSQL (issue 12): hypothesis posts random JSON, text with NUL
and lone surrogates, and nesting of any depth to every door, each time starting from a body
the door accepts and breaking some of it (or sending something else entirely), then runs the
worker. It asserts that no answer is a 5xx, and that every event a door stored ends as a
lead, as an event that brings no lead by design (a Mailchimp or Twilio callback), or as a
failed event with its reason: what a door accepts is never lost in the worker.

Bounded for CI: a few dozen examples a door, derandomised so a run is repeatable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.intake.models import FacebookPage, InboundEvent
from leads.models import Lead

from .doors import FACEBOOK_SECRET, configure, doors, webform_token
from .graph_server import GraphServer

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sources"
PAGE_ID, PAGE_TOKEN = "516540199134611", "page-token-for-hostile-tests"
# Sources whose events bring no lead by design: a processed one with no lead is right.
NO_LEAD = {"mailchimp", "twilio_status", "twilio_sms", "events"}
EXAMPLES = 12


def fixture(source: str, name: str) -> bytes:
    return (FIXTURES / source / name).read_bytes()


# --- What hypothesis sends --------------------------------------------------------------------

UNSTORABLE = st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\ufffd", "\x1b"])
hostile_text = st.text(
    st.one_of(st.characters(exclude_categories=()), UNSTORABLE), max_size=30
)  # every code point, surrogates included
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)
depths = st.integers(min_value=1, max_value=5000)


def nested(depth: int, kind: str) -> Any:
    """A value ``depth`` arrays or objects deep, built without recursion."""
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "[" else {"a": value}
    return value


def deep_text(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "[" else '{"a":' * depth + "1" + "}" * depth


@st.composite
def broken(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with some of its leaves replaced by hostile text, random JSON or deep
    nesting (and now and then a whole object replaced)."""
    if isinstance(value, dict):
        if draw(st.integers(0, 9)) == 9:  # hypothesis shrinks towards 0: keep the object
            return draw(json_values)
        return {key: draw(broken(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [draw(broken(item)) for item in value]
    how = draw(st.sampled_from(["keep", "keep", "keep", "text", "text", "json", "deep"]))
    if how == "text":
        prefix = str(value)[: draw(st.integers(0, 8))] if value is not None else ""
        return prefix + draw(hostile_text)
    if how == "json":
        return draw(json_values)
    if how == "deep":
        return nested(min(draw(depths), 200), draw(st.sampled_from("[{")))
    return value


def json_body(draw: st.DrawFn, base: Any) -> bytes:
    """A JSON body: the door's own ``base`` broken, random JSON, or bare deep nesting."""
    how = draw(st.sampled_from(["broken", "broken", "broken", "random", "deep"]))
    if how == "deep":
        return deep_text(draw(depths), draw(st.sampled_from("[{"))).encode()
    value = draw(json_values) if how == "random" else draw(broken(base))
    return json.dumps(value).encode()  # "\u0000", "\ud800" as JSON spells them


def form_body(draw: st.DrawFn, base: dict[str, str]) -> bytes:
    """A form body: the door's own fields with some values (or names) hostile, lone
    surrogates sent as the bytes UTF-8 would give them (decoded back to U+FFFD)."""
    fields = dict(base)
    for name in list(fields):
        if draw(st.integers(0, 2)) == 2:
            fields[name] = draw(hostile_text)
    if draw(st.booleans()):
        fields[draw(hostile_text)] = draw(hostile_text)

    def encode(text: str) -> str:
        return quote_from_bytes(text.encode("utf-8", "surrogatepass"))

    return "&".join(f"{encode(k)}={encode(v)}" for k, v in fields.items()).encode()


# --- The doors' own bodies ----------------------------------------------------------------------


def base_bodies(web_form: Any) -> dict[str, Any]:
    webform = json.loads(fixture("webform", "submission__json.json"))
    webform["_ts"] = webform_token(web_form)
    rentals = dict(parse_qsl(fixture("zillow_rentals", "callback__full_profile.txt").decode()))
    return {
        "webform (JSON)": webform,
        "webform (form)": {
            k: "on" if v is True else str(v) for k, v in webform.items() if v is not False
        },
        "realtor": json.loads(fixture("realtor", "lead__nested.json")),
        "zillow": json.loads(fixture("zillow", "notification__lead.json")),
        "zillow_rentals": rentals,
        "facebook": json.loads(fixture("facebook", "leadgen__single.json")),
        "mailchimp": {
            "type": "profile",
            "fired_at": "2026-11-28 10:00:00",
            "data[email]": "a@example.com",
            "data[merges][FNAME]": "Ann",
        },
        "api leads": json.loads(fixture("api", "lead__full.json")),
        "api events": json.loads(fixture("events", "property_inquiry__idx.json")),
        "twilio status": {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"},
        "twilio inbound": {"MessageSid": "SM" + "b" * 32, "From": "+13055550100", "Body": "Y"},
    }


@pytest.fixture
def graph(settings) -> Iterator[GraphServer]:
    """Facebook's Graph API, knowing the page and one lead: a leadgen id it does not know is
    an error the worker records."""
    with GraphServer(FACEBOOK_SECRET) as server:
        settings.FACEBOOK_GRAPH_API_URL = server.url
        server.state.tokens.add(PAGE_TOKEN)
        lead = json.loads(fixture("facebook", "lead__full.json"))
        lead.pop("form_id")
        server.state.objects[lead["id"]] = lead
        yield server


@pytest.fixture
def every_door(settings, team, web_form, alice, mona, beach, graph):
    configure(settings)
    page = FacebookPage(page_id=PAGE_ID, name="Sunrise", team=team)
    page.set_access_token(PAGE_TOKEN)
    page.save()
    return {door.name: door for door in doors(team, web_form, alice.user)}, base_bodies(web_form)


def check_outcome(response: Any, before: int, run_queue: Any) -> None:
    assert response.status_code < 500, response.content[:500]
    run_queue()
    for event in InboundEvent.objects.filter(pk__gt=before):
        if event.status == InboundEvent.Status.FAILED:
            assert event.error.strip(), f"event {event.pk} failed without a reason"
            continue
        assert event.status in (InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED), (
            f"{event.source} event {event.pk} left {event.status}: {event.error}"
        )
        if event.source not in NO_LEAD and event.status == InboundEvent.Status.PROCESSED:
            made = event.lead_id is not None or Lead.objects.filter(raw_event_id=event.pk)
            assert made, f"{event.source} event {event.pk} processed without a lead"
    if 200 <= response.status_code < 300:
        # A 2xx stored something new, or named one stored before (a repeat delivery).
        assert InboundEvent.objects.exists()


DOORS = [
    "webform (JSON)", "webform (form)", "realtor", "zillow", "zillow_rentals", "facebook",
    "mailchimp", "api leads", "api events", "twilio status", "twilio inbound",
]  # fmt: skip
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("name", DOORS)
@HYPOTHESIS
@given(data=st.data())
def test_any_body_at_any_door_is_never_a_5xx_and_never_lost(every_door, run_queue, name, data):
    door_of, bases = every_door
    door, base = door_of[name], bases[name]
    if name.startswith("webform"):  # a fresh submission each time, so none is a repeat
        base = {**base, "submission_id": uuid.uuid4().hex}
    body = json_body(data.draw, base) if door.kind == "json" else form_body(data.draw, base)
    before = InboundEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    check_outcome(door.post(body), before, run_queue)
