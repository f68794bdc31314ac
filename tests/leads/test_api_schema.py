"""The API against its own OpenAPI schema: schemathesis sends what the schema allows (and
some of what it does not) to every operation, as an agent and as a manager, and checks that
nothing answers 5xx and that every answer matches the schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

from integrations.intake.models import WebForm
from leads.models import Contact, Lead
from leads.services import api_token_create

# A request the schema forbids is rightly refused with 413 too when schemathesis makes its
# body larger than the API takes (a documented answer, not in schemathesis's default list).
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    get_wsgi_application(),
    config=SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [*REFUSALS, "5xx"]}}}
    ),
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """Django closes the database connection after each request it serves as a WSGI app;
    its test client stops that, so must a test that calls the app directly."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(params=["agent", "manager"])
def token(request, alice, bob, mona, beach, settings) -> str:
    """A token of Alice (an agent) or Mona (the manager), with a few leads to find."""
    settings.API_RATE_LIMIT = "100000/min"
    WebForm.objects.create(public_key="schema-form", name="Website", team=alice.team)
    for number, agent in enumerate([alice, bob, None]):
        contact = Contact.objects.create(first_name=f"Person {number}", email=f"p{number}@x.org")
        Lead.objects.create(
            contact=contact, team=alice.team, source="webform", external_id=f"schema-{number}",
            received_at=timezone.now(), assigned_agent=agent, property_zip="33139",
        )  # fmt: skip
    user = mona.user if request.param == "manager" else alice.user
    return api_token_create(user=user, name="schemathesis")[1]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_its_schema_says(case, token):
    # Every built-in check but one: a request the schema allows may still be refused (a
    # phone number or a ZIP code that does not exist), with a 400 the schema documents.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        excluded_checks=[positive_data_acceptance],
    )


def test_the_schema_documents_every_operation_and_its_errors(client):
    document = client.get("/api/schema/", headers={"Accept": "application/json"}).json()

    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 19
    for path, method, operation in operations:
        assert operation.get("summary"), (path, method)
        assert {"401", "403", "429"} <= set(operation["responses"]), (path, method)
    assert set(document["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}
    create = document["paths"]["/api/v1/leads/"]["post"]
    assert {"202", "400", "409"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])


def test_the_docs_are_served_from_our_own_static_files(client):
    page = client.get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
    assert (
        client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css").status_code
        == 200
    )


def test_the_schema_says_a_lead_update_needs_its_status(client):
    """PATCH /leads/{id}/ with ``{}`` answers 400 "status required": the schema says so too
    (drf-spectacular would otherwise make every field of a PATCH optional)."""
    document = client.get("/api/schema/?format=json").json()
    operation = document["paths"]["/api/v1/leads/{id}/"]["patch"]
    body = operation["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"].rpartition("/")[2]

    assert body.get("required") is True
    assert document["components"]["schemas"][ref]["required"] == ["status"]


def test_the_schema_lets_a_message_have_no_author(client):
    """Found by schemathesis on a production server: an instant reply (sent by no agent) has
    ``"author": null``, which the schema did not allow."""
    document = client.get("/api/schema/?format=json").json()

    assert document["components"]["schemas"]["Message"]["properties"]["author"]["nullable"]
