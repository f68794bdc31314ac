"""Lead intake's models now belong to ``integrations.intake``: out of this app's state
only; their tables stay where they are (that app's 0001 takes them over)."""

from django.db import migrations

from integrations.lib.moves import state_only


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0008_alerts_moved'),
    ]

    operations = [
        state_only(
            migrations.RemoveField(
                model_name='facebookpage',
                name='team',
            ),
            migrations.RemoveField(
                model_name='inboundevent',
                name='lead',
            ),
            migrations.RemoveField(
                model_name='webform',
                name='team',
            ),
            migrations.DeleteModel(
                name='LeadSource',
            ),
            migrations.DeleteModel(
                name='FacebookPage',
            ),
            migrations.DeleteModel(
                name='InboundEvent',
            ),
            migrations.DeleteModel(
                name='WebForm',
            ),
        ),
    ]
