from __future__ import annotations

import pytest
from django.test import Client

from leads.models import Lead


@pytest.mark.django_db
def test_a_submission_becomes_an_assigned_lead(web_form, beach, alice, run_queue):
    client = Client()
    page = client.get("/forms/test-form-key/")
    token = page.context["token"]
    response = client.post(
        "/forms/test-form-key/",
        {
            "_ts": token,
            "first_name": "Jo",
            "email": "Jo@Example.com",
            "zip_code": "33139",
            "consent": "on",
            "submission_id": "sub-000001",
        },
    )
    assert response.status_code == 200, response.content.decode()[:3000]
    assert run_queue() == 1
    lead = Lead.objects.get()
    assert lead.assigned_agent == alice
    assert lead.contact.email == "jo@example.com"
