"""The admin's "Lead sources" page: every source's last event, events today and failures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from integrations.intake.models import FacebookPage, InboundEvent
from integrations.intake.selectors import source_health
from integrations.intake.sources import SOURCES

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(dt.datetime(2026, 11, 30, 15, 0))  # the project's time zone
URL = "/admin/intake/leadsource/"


def event(source: str, status: str, received_at: dt.datetime, external_id: str) -> InboundEvent:
    made = InboundEvent.objects.create(
        source=source, body=b"{}", status=status, external_id=external_id
    )
    InboundEvent.objects.filter(pk=made.pk).update(received_at=received_at)
    return made


def make_events(now: dt.datetime) -> None:
    """Facebook: three in the last hours (one failed, one stuck) and a failure from the day
    before; the web form: one this morning, processed, and one just now, within its deadline."""
    hour = dt.timedelta(hours=1)
    event("facebook", "processed", now - 2 * hour, "fb-1")
    event("facebook", "failed", now - 3 * hour, "fb-2")
    event("facebook", "received", now - 10 * dt.timedelta(minutes=1), "fb-3")
    event("facebook", "failed", now - 20 * hour, "fb-4")
    event("webform", "processed", now - 6 * hour, "wf-1")
    event("webform", "received", now - dt.timedelta(seconds=5), "wf-2")


@pytest.fixture
def events() -> None:
    make_events(NOW)


def test_the_numbers_of_every_source_come_from_one_query(events, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = {row.key: row for row in source_health(now=NOW)}

    assert list(rows) == list(SOURCES)
    facebook = rows["facebook"]
    assert facebook.last_event_at == NOW - dt.timedelta(minutes=10)
    assert (facebook.events_today, facebook.failed, facebook.stuck) == (3, 2, 1)
    assert facebook.failures == 3
    webform = rows["webform"]
    assert (webform.events_today, webform.failed, webform.stuck) == (2, 0, 0)
    api = rows["api"]
    assert (api.last_event_at, api.events_today, api.failures) == (None, 0, 0)


def test_a_source_no_longer_registered_still_shows_its_events():
    event("retired", "failed", timezone.now(), "old-1")

    rows = {row.key: row for row in source_health()}

    assert rows["retired"].failed == 1


def test_the_page_shows_each_source_with_links_to_its_events_and_failures(admin_client, settings):
    settings.EVENT_SWEEP_AFTER_SECONDS = 60
    make_events(timezone.now())
    response = admin_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="source-facebook"' in html
    rows = {row["health"].key: row for row in response.context["rows"]}
    facebook = rows["facebook"]["health"]
    # Real time: today's count depends on the hour the test runs; failures do not.
    assert (facebook.failed, facebook.stuck) == (2, 1)
    events_url = reverse("admin:intake_inboundevent_changelist")
    failed_url = f"{events_url}?source__exact=facebook&amp;status__exact=failed"
    assert failed_url in html
    assert f"{events_url}?source__exact=webform" in html

    listed = admin_client.get(f"{events_url}?source__exact=facebook&status__exact=failed")
    assert listed.status_code == 200
    assert {e.external_id for e in listed.context["cl"].result_list} == {"fb-2", "fb-4"}
    assert "replay" in dict(listed.context["action_form"].fields["action"].choices)


def test_the_page_is_linked_from_the_admin_index(admin_client):
    assert URL in admin_client.get(reverse("admin:index")).content.decode()


def test_the_page_says_which_facebook_pages_need_re_authorisation(admin_client, team):
    FacebookPage.objects.create(
        page_id="1", name="Sunrise", team=team, status=FacebookPage.Status.NEEDS_REAUTH
    )

    html = admin_client.get(URL).content.decode()

    assert "1 Facebook page(s) need re-authorisation" in html


def test_staff_who_may_not_see_events_do_not_see_the_page(client):
    user = get_user_model().objects.create_user("temp", "temp@example.com", "pw-temp-12345")
    user.is_staff = True
    user.save()
    client.force_login(user)

    assert client.get(URL).status_code == 403

    user.user_permissions.add(Permission.objects.get(codename="view_inboundevent"))
    assert client.get(URL).status_code == 200
