"""A database made when the edges were one app migrates to one app per edge, every row kept.

The test takes the database back to the old layout with the migrations as they were then
(``integrations`` 0001-0005, ``leads`` 0001-0007), fills every table of the edges with rows
through the models of that time, gives a group a permission on each old model, migrates to
the newest layout and checks that no row was lost or changed, that the new models read
them, and that the permissions followed their models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

OLD_LAYOUT = [("integrations", "0005_marketing_sync"), ("leads", "0007_agent_zillow_id")]
# The edge's data kept on the agent then, now in the alerts and intake apps.
AGENT_ALERT_FIELDS = (
    "sms_enabled", "email_enabled", "quiet_hours_start", "quiet_hours_end",
    "include_contact_details", "sms_opted_out_at", "phone_problem", "email_problem",
)  # fmt: skip
AT = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
# Where each old model lives now: (app label, model name), lower case.
MOVED = {
    "webhooksubscription": ("webhooks", "webhooksubscription"),
    "webhookdelivery": ("webhooks", "webhookdelivery"),
    "webhookattempt": ("webhooks", "webhookattempt"),
    "syncstate": ("marketing", "syncstate"),
    "syncrun": ("marketing", "syncrun"),
    "delivery": ("alerts", "agentalert"),
    "inboundevent": ("intake", "inboundevent"),
    "leadsource": ("intake", "leadsource"),
    "webform": ("intake", "webform"),
    "facebookpage": ("intake", "facebookpage"),
}


def migrate(targets: list[tuple[str, str]] | None = None) -> Any:
    """Migrate to ``targets`` (the newest layout when None); return the state's apps."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    return MigrationExecutor(connection).loader.project_state(targets).apps


def fill(apps: Any) -> dict[str, Any]:
    """One or more rows in every table of the old ``integrations`` app, and what they hang on."""
    get = apps.get_model
    team = get("leads", "Team").objects.create(name="Miami")
    user_id = get_user_model().objects.create(username="alice", email="alice@example.com").pk
    agent = get("leads", "Agent").objects.create(
        user_id=user_id, team=team, display_name="Alice", email="alice@example.com",
        mobile_phone="+13055550100", zillow_id="ZPA-77", sms_enabled=False,
        quiet_hours_start=dt.time(21, 0), quiet_hours_end=dt.time(7, 30),
        include_contact_details=True, sms_opted_out_at=AT, phone_problem="21211: not a phone",
        email_problem="550: no such user",
    )  # fmt: skip
    contact = get("leads", "Contact").objects.create(
        first_name="Jane", last_name="Doe", email="jane@example.com", marketing_status="subscribed"
    )
    lead = get("leads", "Lead").objects.create(
        contact=contact, team=team, source="webform", external_id="form:1", received_at=AT,
        assigned_agent=agent, price=Decimal("450000.00"),
    )  # fmt: skip
    event = get("integrations", "InboundEvent").objects.create(
        source="webform", external_id="form:1", body=b"\x00raw\xffbody", content_type="text/plain",
        headers={"user-agent": "x"}, remote_addr="203.0.113.9", meta={"form_id": 1},
        status="processed", lead=lead, attempts=2, processed_at=AT,
    )  # fmt: skip
    get("integrations", "WebForm").objects.create(
        public_key="old-form-key", name="Website", team=team, allowed_origins=["https://a.example"]
    )
    get("integrations", "FacebookPage").objects.create(
        page_id="1234", name="Sunrise", team=team, access_token_encrypted="gAAAA-token",
        status="needs_reauth", field_mapping={"*": {"zip": "property_zip"}}, forms={"9": {}},
    )  # fmt: skip
    subscription = get("integrations", "WebhookSubscription").objects.create(
        name="ERP", url="https://erp.example/hook", team=team, events=["lead.created"],
        secret="whsec_c2VjcmV0", consecutive_failures=3, failing_since=AT,
    )  # fmt: skip
    delivery = get("integrations", "WebhookDelivery").objects.create(
        subscription=subscription, message_id="msg_1", event_type="lead.created",
        payload='{"type":"lead.created"}', retry_until=AT, attempts=1, last_status_code=500,
    )  # fmt: skip
    get("integrations", "WebhookAttempt").objects.create(
        delivery=delivery, status_code=500, latency_ms=12, response_excerpt="oops", error="500"
    )
    alert = get("integrations", "Delivery").objects.create(
        lead=lead, agent=agent, channel="sms", kind="assigned", status="delivered",
        to="+13055550100", body="New lead", provider_id="SM123", attempts=1, sent_at=AT,
    )  # fmt: skip
    get("integrations", "Delivery").objects.create(
        lead=lead, agent=agent, channel="email", kind="assigned", status="queued",
        to="alice@example.com", fallback_for=alert,
    )  # fmt: skip
    get("integrations", "SyncState").objects.create(
        contact=contact, email="jane@example.com", remote_status="subscribed", attempts=1,
        field_changes={"first_name": {"origin": "mailchimp", "at": AT.isoformat()}},
    )  # fmt: skip
    get("integrations", "SyncRun").objects.create(
        kind="full", status="finished", total=10, done=10, batches=[{"id": "b1"}], finished_at=AT
    )
    return {"event": event, "agent": agent}


def old_permissions() -> Any:
    """A group given every permission on the old app's models, and a user in it."""
    group = Group.objects.create(name="Operations")
    for model in MOVED:
        kind, _ = ContentType.objects.get_or_create(app_label="integrations", model=model)
        for action in ("add", "change", "delete", "view"):
            found, _ = Permission.objects.get_or_create(
                content_type=kind, codename=f"{action}_{model}", defaults={"name": model}
            )
            group.permissions.add(found)
    user = get_user_model().objects.create(username="ops")
    user.groups.add(group)
    return user


def rows(tables: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every row of ``tables``, as the database gives them back, in id order."""
    found = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY 1")  # noqa: S608
            names = [column[0] for column in cursor.description]
            found[table] = [
                {
                    n: bytes(v) if isinstance(v, memoryview) else v
                    for n, v in zip(names, row, strict=True)
                }
                for row in cursor.fetchall()
            ]
    return found


def same_columns(
    after: dict[str, list[dict[str, Any]]], before: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """``after``, with only the columns ``before`` had (later migrations add columns)."""
    return {
        table: [{n: row[n] for n in (before[table] or [{}])[0]} for row in after[table]]
        for table in after
    }


@pytest.fixture
def old_layout(transactional_db: None) -> Iterator[Any]:
    """The database at the old layout, filled; the newest layout again afterwards."""
    apps = migrate(OLD_LAYOUT)
    yield apps
    migrate()


def check_every_row_survives(apps: Any) -> None:
    filled = fill(apps)
    user_id = old_permissions().pk
    tables = sorted(m._meta.db_table for m in apps.get_app_config("integrations").get_models())
    before = rows(tables)
    agent = apps.get_model("leads", "Agent").objects.values(*AGENT_ALERT_FIELDS, "zillow_id").get()
    assert all(before[table] for table in tables), "a table of the old layout has no row"

    new_apps = migrate()

    assert same_columns(rows(tables), before) == before
    subscription = new_apps.get_model("webhooks", "WebhookSubscription").objects.get()
    assert subscription.secret == "whsec_c2VjcmV0"
    assert subscription.deliveries.get().log.get().response_excerpt == "oops"
    assert new_apps.get_model("marketing", "SyncState").objects.get().email == "jane@example.com"
    assert new_apps.get_model("marketing", "SyncRun").objects.get().batches == [{"id": "b1"}]
    alerts = new_apps.get_model("alerts", "AgentAlert").objects.order_by("pk")
    assert [(a.channel, a.status, a.fallback_for_id) for a in alerts] == [
        ("sms", "delivered", None),
        ("email", "queued", alerts[0].pk),
    ]
    moved = new_apps.get_model("alerts", "AlertSettings").objects.values(*AGENT_ALERT_FIELDS).get()
    assert moved == {name: agent[name] for name in AGENT_ALERT_FIELDS}
    source_ids = new_apps.get_model("intake", "SourceAgentId").objects.values_list(
        "agent__display_name", "source", "external_id"
    )
    assert list(source_ids) == [("Alice", "zillow", agent["zillow_id"])]
    user = get_user_model().objects.get(pk=user_id)
    wanted = {f"{app}.{action}_{model}" for app, model in MOVED.values() for action in ("view",)}
    assert wanted <= user.get_all_permissions()
    event = new_apps.get_model("intake", "InboundEvent").objects.get()
    assert (event.pk, bytes(event.body)) == (filled["event"].pk, b"\x00raw\xffbody")
    assert new_apps.get_model("intake", "WebForm").objects.get().public_key == "old-form-key"
    assert new_apps.get_model("intake", "FacebookPage").objects.get().status == "needs_reauth"


def test_a_database_of_the_one_app_layout_migrates_with_every_row(old_layout):
    check_every_row_survives(old_layout)


@pytest.mark.postgres
def test_on_postgresql_too(old_layout):
    assert connection.vendor == "postgresql"
    check_every_row_survives(old_layout)


def test_a_fresh_database_has_a_table_for_every_model(transactional_db):
    """The old app's migrations make the tables; the new apps' only take them over."""
    tables = set(connection.introspection.table_names())
    missing = [
        model._meta.label
        for model in django_apps.get_models()
        if not model._meta.proxy and model._meta.db_table not in tables
    ]
    assert missing == []
