"""Queue workers claim inbound events from their rows: the lease column, and on PostgreSQL the
triggers that ring (NOTIFY) when an event becomes due, so the door pays no extra round trip.
"""

from typing import Any

from django.db import migrations, models

# The channel the claimers LISTEN on (integrations.intake.claims.CHANNEL).
CHANNEL = "intake_inboundevent_due"

CREATE_SQL = [
    f"""
CREATE FUNCTION intake_inboundevent_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One payload for every event: PostgreSQL sends one notification per transaction.
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER intake_inboundevent_received
    AFTER INSERT ON integrations_inboundevent
    FOR EACH ROW WHEN (NEW.status = 'received')
    EXECUTE FUNCTION intake_inboundevent_notify()""",
    # Put back to received (a replay) or no longer waiting (a Facebook page re-authorised).
    """
CREATE TRIGGER intake_inboundevent_due_again
    AFTER UPDATE OF status, next_attempt_at ON integrations_inboundevent
    FOR EACH ROW WHEN (
        NEW.status = 'received' AND NEW.next_attempt_at IS NULL
        AND (OLD.status <> 'received' OR OLD.next_attempt_at IS NOT NULL)
    )
    EXECUTE FUNCTION intake_inboundevent_notify()""",
]
DROP_SQL = [
    "DROP TRIGGER IF EXISTS intake_inboundevent_due_again ON integrations_inboundevent",
    "DROP TRIGGER IF EXISTS intake_inboundevent_received ON integrations_inboundevent",
    "DROP FUNCTION IF EXISTS intake_inboundevent_notify()",
]


def create_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for sql in CREATE_SQL:
            schema_editor.execute(sql)


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for sql in DROP_SQL:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0002_source_agent_ids"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboundevent",
            name="claimed_until",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="A worker holds the event until then (its lease; after a failed "
                "attempt, the wait before the next). Empty: any worker may take it when it is "
                "due.",
                null=True,
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
