"""The marketing sync's models now belong to ``integrations.marketing``: out of this app's state
only; their tables stay where they are (that app's 0001 takes them over)."""

from django.db import migrations

from integrations.lib.moves import state_only


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0006_webhooks_moved'),
    ]

    operations = [
        state_only(
            migrations.DeleteModel(
                name='SyncRun',
            ),
            migrations.DeleteModel(
                name='SyncState',
            ),
        ),
    ]
