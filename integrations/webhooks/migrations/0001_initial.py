import django.db.models.deletion
import integrations.webhooks.models
"""The outbound webhooks' models, taken over with their tables from the ``integrations`` app
(its 0006 let go of them): added to this app's state only, and their content types moved."""

from django.db import migrations, models

from integrations.lib.moves import Move, content_types_moved, state_only


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('integrations', '0006_webhooks_moved'),
        ('leads', '0007_agent_zillow_id'),
    ]

    operations = [
        state_only(
            migrations.CreateModel(
                name='WebhookDelivery',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('message_id', models.CharField(help_text='The webhook-id header.', max_length=64)),
                    ('event_type', models.CharField(max_length=40)),
                    ('payload', models.TextField()),
                    ('status', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Failed (gave up)')], default='pending', max_length=16)),
                    ('attempts', models.PositiveIntegerField(default=0)),
                    ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                    ('retry_until', models.DateTimeField()),
                    ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                    ('last_status_code', models.PositiveIntegerField(blank=True, null=True)),
                    ('last_error', models.TextField(blank=True)),
                    ('delivered_at', models.DateTimeField(blank=True, null=True)),
                    ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ],
                options={
                    'verbose_name_plural': 'webhook deliveries',
                    'db_table': 'integrations_webhookdelivery',
                    'ordering': ['-created_at', '-id'],
                },
            ),
            migrations.CreateModel(
                name='WebhookAttempt',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('attempted_at', models.DateTimeField(auto_now_add=True)),
                    ('status_code', models.PositiveIntegerField(blank=True, null=True)),
                    ('latency_ms', models.PositiveIntegerField(blank=True, null=True)),
                    ('response_excerpt', models.TextField(blank=True, help_text='The first 500 characters.')),
                    ('error', models.CharField(blank=True, max_length=500)),
                    ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='log', to='webhooks.webhookdelivery')),
                ],
                options={
                    'db_table': 'integrations_webhookattempt',
                    'ordering': ['-attempted_at', '-id'],
                },
            ),
            migrations.CreateModel(
                name='WebhookSubscription',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('name', models.CharField(max_length=120)),
                    ('url', models.URLField(help_text='Where events are POSTed (https).', max_length=2000)),
                    ('events', models.JSONField(blank=True, default=list, help_text='Empty: every event.')),
                    ('secret', models.CharField(default=integrations.webhooks.models.new_webhook_secret, editable=False, max_length=100)),
                    ('is_active', models.BooleanField(default=True)),
                    ('consecutive_failures', models.PositiveIntegerField(default=0, editable=False)),
                    ('failing_since', models.DateTimeField(blank=True, editable=False, null=True)),
                    ('disabled_at', models.DateTimeField(blank=True, editable=False, null=True)),
                    ('disabled_reason', models.CharField(blank=True, editable=False, max_length=500)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('team', models.ForeignKey(blank=True, help_text="Only this team's events; empty: every team's.", null=True, on_delete=django.db.models.deletion.CASCADE, related_name='webhook_subscriptions', to='leads.team')),
                ],
                options={
                    'db_table': 'integrations_webhooksubscription',
                    'ordering': ['name'],
                },
            ),
            migrations.AddField(
                model_name='webhookdelivery',
                name='subscription',
                field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhooksubscription'),
            ),
            migrations.AddIndex(
                model_name='webhookdelivery',
                index=models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='webhookdelivery_due'),
            ),
            migrations.AddConstraint(
                model_name='webhookdelivery',
                constraint=models.UniqueConstraint(fields=('subscription', 'message_id'), name='webhookdelivery_unique_message'),
            ),
        ),
        content_types_moved(
            [
                Move('integrations', 'webhooksubscription', 'webhooks', 'webhooksubscription'),
                Move('integrations', 'webhookdelivery', 'webhooks', 'webhookdelivery'),
                Move('integrations', 'webhookattempt', 'webhooks', 'webhookattempt'),
            ]
        ),
    ]
