"""Operations edit a contact in the admin: the change is announced like any other."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from leads import signals
from leads.models import Contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client


def test_an_edit_of_the_persons_details_is_announced_once_committed(
    ops, django_capture_on_commit_callbacks
):
    contact = Contact.objects.create(first_name="Jane", last_name="Doe", email="jane@example.net")
    heard = []

    def listen(sender, contact, fields, origin, **kwargs):
        heard.append((contact.pk, fields, origin))

    signals.contact_changed.connect(listen, dispatch_uid="test.admin.contact")
    try:
        url = f"/admin/leads/contact/{contact.pk}/change/"
        page = ops.get(url).content.decode()
        management = dict(re.findall(r'name="([\w-]+_FORMS)" value="(\d*)"', page))
        form = {
            "first_name": "Janet", "last_name": "Doe", "email": "jane@example.net", "phone": "",
            **management,
        }  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            response = ops.post(url, form)
    finally:
        signals.contact_changed.disconnect(dispatch_uid="test.admin.contact")
    errors = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode())
    assert response.status_code == 302, errors
    contact.refresh_from_db()
    assert contact.first_name == "Janet"
    assert heard == [(contact.pk, ["first_name"], "admin")]


def test_the_marketing_status_is_not_edited_by_hand(ops):
    contact = Contact.objects.create(first_name="Jane", email="jane@example.net")
    page = ops.get(f"/admin/leads/contact/{contact.pk}/change/").content.decode()
    assert 'name="marketing_status"' not in page
    assert "Not synced" in page  # shown, read-only
