"""Operations run everything from the admin: every model is listed, events can be replayed."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from integrations.intake.models import InboundEvent
from integrations.intake.services import event_store
from leads.models import Lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-ops-123")
    client.force_login(user)
    return client


@pytest.fixture
def event(web_form):
    body = {
        "email": "jo@example.com",
        "zip_code": "33139",
        "consent": True,
        "submission_id": "adm-00001",
    }
    return event_store(
        source="webform",
        body=json.dumps(body).encode(),
        content_type="application/json",
        external_id="test-form-key:adm-00001",
        meta={"form_id": web_form.pk},
    ).event


def test_every_model_has_an_admin_with_a_working_list_and_search(staff_client, event, run_queue):
    run_queue()
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ("leads", "integrations"):
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert staff_client.get(url).status_code == 200, url
        if model_admin.search_fields:
            assert staff_client.get(url, {"q": "jo@example.com"}).status_code == 200, url
        obj = model._default_manager.first()
        if obj is not None:
            change = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk]
            )
            assert staff_client.get(change).status_code == 200, change


def test_the_event_page_shows_the_raw_body(staff_client, event):
    url = reverse("admin:intake_inboundevent_change", args=[event.pk])
    html = staff_client.get(url).content.decode()
    assert "adm-00001" in html
    assert "jo@example.com" in html


def test_replay_puts_a_failed_event_back_on_the_queue(staff_client, event, run_queue):
    run_queue()  # the original task
    Lead.objects.all().delete()
    event.status = InboundEvent.Status.FAILED
    event.error = "worker died"
    event.lead = None
    event.save()

    url = reverse("admin:intake_inboundevent_changelist")
    response = staff_client.post(
        url, {"action": "replay", "_selected_action": [event.pk]}, follow=True
    )
    assert "Replayed 1 event" in response.content.decode()
    assert run_queue() == 1
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PROCESSED
    assert Lead.objects.count() == 1


def test_replay_leaves_processed_events_alone(staff_client, event, run_queue):
    run_queue()
    url = reverse("admin:intake_inboundevent_changelist")
    response = staff_client.post(
        url, {"action": "replay", "_selected_action": [event.pk]}, follow=True
    )
    assert "Left 1 processed event(s) alone." in response.content.decode()
    assert run_queue() == 0


def test_an_agent_without_staff_rights_cannot_open_the_admin(client, alice):
    client.force_login(alice.user)
    response = client.get(reverse("admin:intake_inboundevent_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
