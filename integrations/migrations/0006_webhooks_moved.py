"""The outbound webhooks' models now belong to ``integrations.webhooks``: out of this app's
state only; their tables stay where they are (the webhooks app's 0001 takes them over)."""

from django.db import migrations

from integrations.lib.moves import state_only


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0005_marketing_sync'),
    ]

    operations = [
        state_only(
            migrations.RemoveField(
                model_name='webhookdelivery',
                name='subscription',
            ),
            migrations.RemoveField(
                model_name='webhooksubscription',
                name='team',
            ),
            migrations.DeleteModel(
                name='WebhookAttempt',
            ),
            migrations.DeleteModel(
                name='WebhookDelivery',
            ),
            migrations.DeleteModel(
                name='WebhookSubscription',
            ),
        ),
    ]
