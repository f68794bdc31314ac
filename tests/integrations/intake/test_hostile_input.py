"""Hostile bodies at every door: each gets a clear 4xx, never a 500 (issue 12)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.intake.models import InboundEvent
from leads.data import LeadData
from leads.services import api_token_create, lead_capture

from .doors import configure, doors

pytestmark = pytest.mark.django_db

DEEP = b"[" * 20_000 + b"]" * 20_000  # 40 kB: within every door's size limit
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000


@pytest.fixture
def every_door(settings, team, web_form, alice):
    configure(settings)
    return {door.name: door for door in doors(team, web_form, alice.user)}


JSON_DOORS = ["webform (JSON)", "realtor", "zillow", "facebook", "api leads", "api events"]


@pytest.mark.parametrize("door", JSON_DOORS)
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["arrays", "objects"])
def test_deeply_nested_json_is_a_400_that_says_so_at_every_json_door(every_door, door, body):
    response = every_door[door].post(body)

    assert response.status_code == 400, response.content[:300]
    assert b"nested more than 64 levels" in response.content
    assert not InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).exists()


def test_deep_json_inside_a_zillow_message_is_refused_as_unreadable(every_door):
    """The SNS envelope is shallow, the lead inside its Message deep: read with the same
    reader, the lead is a ParseError, never a RecursionError (the envelope's signature is
    not valid here, so the door answers 403 before that; the reader is what is tried)."""
    from integrations.intake.sources.base import ParseError
    from integrations.intake.sources.zillow import read_lead_message

    with pytest.raises(ParseError, match="nested more than 64 levels"):
        read_lead_message({"Message": DEEP.decode()})


def test_the_api_answers_deep_json_on_a_lead_update_in_its_error_shape(client, mona, beach):
    data = LeadData(
        source="webform", external_id="dana-1", received_at=timezone.now(), first_name="Dana",
        email="dana@example.com", property_zip="33139",
    )  # fmt: skip
    lead = lead_capture(data=data).lead
    token = api_token_create(user=mona.user, name="t")[1]

    response = client.patch(
        f"/api/v1/leads/{lead.pk}/", DEEP, content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "nested more than 64 levels" in response.json()["message"]
