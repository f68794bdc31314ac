"""People through the REST API, role by role: an agent adds and changes their own people, a
manager the team's and deletes them, an integration with ``people:write`` the team's;
tags are part of the person; nobody reaches another team's."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from leads.models import Activity, Contact, ContactEmail, Integration, Lead
from leads.services import integration_create

pytestmark = pytest.mark.django_db


def api(user=None, key=None) -> Client:
    client = Client(headers={"Authorization": f"Bearer {key}"} if key else {})
    if user is not None:
        client.force_login(user)
    return client


def lead_of(team, email, agent=None, source="webform") -> Lead:
    contact = Contact.objects.create(first_name="Pat", last_name="Lee", email=email)
    ContactEmail.objects.create(contact=contact, email=email)
    return Lead.objects.create(
        contact=contact, team=team, source=source, external_id=f"p-{email}",
        received_at=timezone.now(), assigned_agent=agent,
    )  # fmt: skip


def test_an_agent_adds_a_person_who_becomes_theirs_not_routed(alice):
    client = api(alice.user)
    body = {"first_name": "Ana", "last_name": "Ruiz", "emails": ["ANA@example.com"],
            "phones": ["(305) 555-0142"], "tags": ["investor", "past client"]}  # fmt: skip
    response = client.post("/api/v1/contacts/", body, content_type="application/json")
    assert response.status_code == 201, response.json()
    person = response.json()
    assert person["email"] == "ana@example.com"
    assert person["emails"] == ["ana@example.com"]
    assert person["phones"] == ["+13055550142"]
    assert sorted(person["tags"]) == ["investor", "past client"]
    lead = Lead.objects.get(contact_id=person["id"])
    assert lead.source == "api"
    assert lead.assigned_agent == alice
    assert lead.sla_due_at is None

    again = client.post(
        "/api/v1/contacts/", {"emails": ["ana@example.com"], "tags": ["buyer"]},
        content_type="application/json",
    )  # fmt: skip
    assert again.status_code == 200  # known: the same person, filled in
    assert again.json()["id"] == person["id"]
    assert sorted(again.json()["tags"]) == ["buyer", "investor", "past client"]
    assert Lead.objects.filter(contact_id=person["id"]).count() == 1


def test_an_agent_changes_their_own_person_and_tags(alice, bob):
    lead = lead_of(alice.team, "pat@example.com", alice)
    url = f"/api/v1/contacts/{lead.contact_id}/"
    response = api(alice.user).patch(
        url, {"first_name": "Patricia", "tags": ["vip"], "phones": ["305-555-0199"]},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    assert response.json()["first_name"] == "Patricia"
    assert response.json()["tags"] == ["vip"]
    assert response.json()["phone"] == "+13055550199"
    assert Activity.objects.filter(contact_id=lead.contact_id, kind="contact_updated").exists()
    cleared = api(alice.user).patch(url, {"tags": []}, content_type="application/json")
    assert cleared.json()["tags"] == []
    # Bob sees his team's pool, but this person is Alice's: he may not change them.
    assert (
        api(bob.user).patch(url, {"first_name": "X"}, content_type="application/json").status_code
        == 404
    )


def test_an_address_of_another_person_is_refused(alice):
    mine = lead_of(alice.team, "pat@example.com", alice)
    lead_of(alice.team, "sam@example.com", alice)
    response = api(alice.user).patch(
        f"/api/v1/contacts/{mine.contact_id}/", {"emails": ["sam@example.com"]},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "belongs to another person" in str(response.json())


def test_bad_input_is_a_400_naming_the_field(alice):
    client = api(alice.user)
    for body, field in (
        ({"emails": ["nope"]}, "emails"),
        ({"phones": ["12"]}, "phones"),
        ({"first_name": "Only a name"}, "emails"),
        ({"agent": 999999}, "agent"),
    ):
        response = client.post("/api/v1/contacts/", body, content_type="application/json")
        assert response.status_code == 400, body
        assert field in str(response.json()), response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"tags": [0]}, "tags"), ({"first_name": 5}, "first_name"), ({"phones": [3055550199]},
     "phones"), ({"agent": "1"}, "agent")],
)  # fmt: skip
def test_a_number_for_a_string_or_a_string_for_a_number_is_refused_as_the_schema_says(
    alice, body, field
):
    """Found by schemathesis: ``"tags": [0]`` was taken as the tag "0"."""
    lead = lead_of(alice.team, "pat@example.com", alice)

    response = api(alice.user).patch(
        f"/api/v1/contacts/{lead.contact_id}/", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert field in response.json()["message"]


def test_a_manager_deletes_a_team_person_with_their_leads(mona, alice, oscar):
    lead = lead_of(alice.team, "pat@example.com", alice)
    url = f"/api/v1/contacts/{lead.contact_id}/"
    assert api(alice.user).delete(url).status_code == 403  # an agent may not delete
    assert api(oscar.user).delete(url).status_code == 404  # another team's: not even seen
    assert api(mona.user).delete(url).status_code == 204
    assert not Contact.objects.filter(pk=lead.contact_id).exists()
    assert not Lead.objects.filter(pk=lead.pk).exists()


def test_a_person_with_another_teams_lead_is_not_deleted(mona, alice, oscar):
    lead = lead_of(alice.team, "pat@example.com", alice)
    Lead.objects.create(contact=lead.contact, team=oscar.team, source="zillow", external_id="z1",
                        received_at=timezone.now(), assigned_agent=oscar)  # fmt: skip
    response = api(mona.user).delete(f"/api/v1/contacts/{lead.contact_id}/")
    assert response.status_code == 409
    assert Lead.objects.filter(contact=lead.contact).count() == 2


def test_an_integration_needs_people_write(team, alice):
    _reader, read_key = integration_create(
        name="Reader", team=team, source="reader", scopes=[Integration.Scope.LEADS_READ]
    )
    body = {"emails": ["int@example.com"]}
    response = api(key=read_key).post("/api/v1/contacts/", body, content_type="application/json")
    assert response.status_code == 403
    assert "people:write" in response.json()["message"]
    _, key = integration_create(
        name="Lender", team=team, source="lender",
        scopes=[Integration.Scope.LEADS_READ, Integration.Scope.PEOPLE_WRITE],
    )  # fmt: skip
    response = api(key=key).post(
        "/api/v1/contacts/", {**body, "agent": alice.pk}, content_type="application/json"
    )
    assert response.status_code == 201
    lead = Lead.objects.get(contact_id=response.json()["id"])
    assert (lead.source, lead.team, lead.assigned_agent) == ("lender", team, alice)
    person = response.json()["id"]
    assert api(key=key).delete(f"/api/v1/contacts/{person}/").status_code == 204
