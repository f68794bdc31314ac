"""Duplicates: people who are the same are listed for a manager, merged in one step (every
row kept, on the survivor; consents and the marketing status the strictest), told to
webhooks and to the marketing sync, and unmerged within a day with every row back."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from leads import duplicates
from leads.models import (
    Activity,
    Consent,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactTag,
    Lead,
    PersonMerge,
)

pytestmark = pytest.mark.django_db


def person(team, first, last, email="", phone="", *, address="", agent=None, tags=(), n=None):
    if n is None:
        n = [0]
    n[0] += 1
    contact = Contact.objects.create(first_name=first, last_name=last, email=email, phone=phone)
    if email:
        ContactEmail.objects.create(contact=contact, email=email)
    if phone and not ContactPhone.objects.filter(phone=phone).exists():
        ContactPhone.objects.create(contact=contact, phone=phone)
    for tag in tags:
        ContactTag.objects.create(contact=contact, name=tag)
    lead = Lead.objects.create(
        contact=contact, team=team, source="webform", external_id=f"dup-{uuid.uuid4().hex}",
        received_at=timezone.now(), assigned_agent=agent, property_address=address,
    )  # fmt: skip
    Activity.objects.create(contact=contact, lead=lead, kind="received", summary="In")
    return contact


def snapshot() -> dict[str, set]:
    """Every row of a person, by what it is (not where it hangs)."""
    return {
        "contacts": set(
            Contact.objects.values_list(
                "pk", "first_name", "last_name", "email", "phone", "marketing_status"
            )
        ),
        "leads": set(Lead.objects.values_list("pk", "contact_id")),
        "activities": set(Activity.objects.values_list("pk", "contact_id")),
        "consents": set(Consent.objects.values_list("pk", "contact_id", "granted")),
        "emails": set(ContactEmail.objects.values_list("pk", "contact_id", "email")),
        "phones": set(ContactPhone.objects.values_list("pk", "contact_id", "phone")),
        "tags": set(ContactTag.objects.values_list("contact_id", "name")),
    }


def test_people_who_are_the_same_are_found(team, other_team, alice):
    a = person(team, "Ann", "Lee", "ann@example.com", "+13055550101")
    b = person(team, "Annie", "Lee", "ann.lee@work.example", "+13055550101")  # same phone
    c = person(team, "Jon", "Smith", "jon@example.com", address="12 Ocean Dr")
    d = person(team, "Jonathan", "Smith", "jsmith@example.com", address="12 Ocean Dr")
    e = person(team, "Eve", "Smith", "eve@example.com", address="12 Ocean Dr")  # not close
    held = person(team, "Bo", "Ray", "bo@example.com")
    f = person(team, "Bo", "R", "bo.r@example.com")
    ContactEmail.objects.create(contact=f, email="bo+x@example.com")
    Contact.objects.filter(pk=held.pk).update(email="bo+x@example.com")  # f holds it too
    person(other_team, "Ann", "Lee", "ann2@example.com", "+13055550101")  # another team's
    pairs = {
        (p.first.pk, p.second.pk): p.reasons for p in duplicates.duplicates_find(team_id=team.pk)
    }
    assert pairs[(a.pk, b.pk)] == ["same phone +13055550101"]
    assert pairs[(c.pk, d.pk)] == ["close names at 12 ocean dr"]
    assert pairs[(held.pk, f.pk)] == ["same email bo+x@example.com"]
    assert (c.pk, e.pk) not in pairs
    assert (d.pk, e.pk) not in pairs
    assert len(pairs) == 3


def test_a_merge_keeps_every_row_and_an_undo_puts_each_back(team, mona, alice):
    keep = person(team, "Ann", "", "ann@example.com", agent=alice, tags=["vip", "buyer"])
    gone = person(
        team, "Ann", "Lee", "ann.lee@example.com", "+13055550177", tags=["buyer", "investor"]
    )
    Consent.objects.create(contact=keep, channel="marketing_email", granted=True, text="Yes",
                           origin="form", obtained_at=timezone.now())  # fmt: skip
    three_days_ago = timezone.now() - dt.timedelta(days=3)
    Consent.objects.create(contact=gone, channel="marketing_email", granted=False, text="No",
                           origin="form", obtained_at=three_days_ago)  # fmt: skip
    Contact.objects.filter(pk=keep.pk).update(marketing_status="subscribed")
    Contact.objects.filter(pk=gone.pk).update(marketing_status="unsubscribed")
    keep.refresh_from_db()
    gone.refresh_from_db()
    before = snapshot()

    merge = duplicates.people_merge(team_id=team.pk, survivor=keep, other=gone, actor=mona.user)

    assert not Contact.objects.filter(pk=gone.pk).exists()
    keep.refresh_from_db()
    assert (keep.last_name, keep.phone) == ("Lee", "+13055550177")  # blanks filled
    assert keep.marketing_status == "unsubscribed"  # the stricter
    latest = (
        Consent.objects.filter(contact=keep, channel="marketing_email")
        .order_by("-obtained_at")
        .first()
    )
    assert latest is not None
    assert latest.granted is False  # the refusal wins over the older grant
    after = snapshot()
    # Every row is still there, now the survivor's.
    for table in ("leads", "activities", "emails", "phones"):
        moved = {(row[0], *row[2:]) for row in before[table]}
        assert moved <= {(row[0], *row[2:]) for row in after[table]}, table
        assert {row[1] for row in after[table]} == {keep.pk}, table
    assert {r[0] for r in before["consents"]} <= {r[0] for r in after["consents"]}
    assert {name for _, name in after["tags"]} == {"vip", "buyer", "investor"}
    assert {c for c, _ in after["tags"]} == {keep.pk}
    assert Activity.objects.filter(contact=keep, data__merge=merge.pk).exists()

    restored = duplicates.people_unmerge(merge=merge, actor=mona.user)
    assert restored.pk == gone.pk
    undone = snapshot()
    # Everything that was there before is back where it was (the two timeline entries of
    # the merge and its undo stay on the survivor's timeline).
    for table in ("contacts", "leads", "emails", "phones", "tags"):
        assert undone[table] == before[table], table
    assert before["activities"] <= undone["activities"]
    assert {r for r in undone["activities"] if r not in before["activities"]} == {
        (a.pk, keep.pk) for a in Activity.objects.filter(contact=keep, data__has_key="merge")
    }
    assert {r[:2] for r in undone["consents"]} == {r[:2] for r in before["consents"]}
    merge.refresh_from_db()
    assert merge.undone_at is not None
    with pytest.raises(ValueError, match="for a day, once"):
        duplicates.people_unmerge(merge=merge)


def test_an_undo_is_for_a_day(team, mona):
    keep = person(team, "Ann", "Lee", "ann@example.com")
    gone = person(team, "Ann", "Lee", "ann2@example.com")
    merge = duplicates.people_merge(team_id=team.pk, survivor=keep, other=gone)
    PersonMerge.objects.filter(pk=merge.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    merge.refresh_from_db()
    with pytest.raises(ValueError, match="for a day"):
        duplicates.people_unmerge(merge=merge)


def test_another_teams_person_is_not_merged(team, other_team):
    mine = person(team, "Ann", "Lee", "ann@example.com")
    theirs = person(other_team, "Ann", "Lee", "ann2@example.com")
    with pytest.raises(ValueError, match="your team's"):
        duplicates.people_merge(team_id=team.pk, survivor=mine, other=theirs)
    shared = person(team, "Bo", "Ray", "bo@example.com")
    Lead.objects.create(contact=shared, team=other_team, source="zillow", external_id="z-bo",
                        received_at=timezone.now())  # fmt: skip
    with pytest.raises(ValueError, match="another team"):
        duplicates.people_merge(team_id=team.pk, survivor=mine, other=shared)


def test_the_manager_merges_and_undoes_from_the_page(client, mona, alice):
    keep = person(mona.team, "Ann", "Lee", "ann@example.com", "+13055550101")
    gone = person(mona.team, "Annie", "Lee", "annie@example.com", "+13055550101")
    client.force_login(alice.user)
    assert client.get("/people/duplicates/").status_code == 403
    assert client.post("/people/merge/", {"survivor": keep.pk, "other": gone.pk}).status_code == 403
    client.force_login(mona.user)
    page = client.get("/people/duplicates/").content.decode()
    assert "same phone +13055550101" in page
    assert 'href="/people/duplicates/"' in client.get("/dashboard/").content.decode()
    response = client.post("/people/merge/", {"survivor": keep.pk, "other": gone.pk}, follow=True)
    assert "You can undo it for a day" in response.content.decode()
    assert not Contact.objects.filter(pk=gone.pk).exists()
    merge = PersonMerge.objects.get()
    response = client.post(f"/people/merges/{merge.pk}/undo/", follow=True)
    assert "a person of their own again" in response.content.decode()
    assert Contact.objects.filter(pk=gone.pk).exists()


def test_a_merge_is_told_to_webhooks_and_the_marketing_sync(team, settings):
    from integrations.marketing.models import SyncState
    from integrations.webhooks.models import WebhookDelivery, WebhookSubscription

    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    WebhookSubscription.objects.create(name="Sync", url="https://hooks.example/x", team=team,
                                       events=["person.merged"])  # fmt: skip
    keep = person(team, "Ann", "Lee", "ann@example.com")
    gone = person(team, "Ann", "Lee", "ann2@example.com")
    SyncState.objects.create(contact=gone, email="ann2@example.com", remote_status="subscribed")
    merge = duplicates.people_merge(team_id=team.pk, survivor=keep, other=gone)
    delivery = WebhookDelivery.objects.get(event_type="person.merged")
    assert f'"merged":{gone.pk}' in delivery.payload
    assert f'"id":{merge.pk}' in delivery.payload
    state = SyncState.objects.get()
    assert state.contact_id == keep.pk  # the member the platform knows is the survivor's now
