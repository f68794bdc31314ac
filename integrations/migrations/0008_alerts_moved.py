"""The agent alert model (``Delivery``) now belongs to ``integrations.alerts``: out of this app's state
only; its table stays where they are (that app's 0001 takes them over)."""

from django.db import migrations

from integrations.lib.moves import state_only


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0007_marketing_moved'),
    ]

    operations = [
        state_only(
            migrations.DeleteModel(
                name='Delivery',
            ),
        ),
    ]
