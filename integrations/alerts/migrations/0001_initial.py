"""The agent alert model (``Delivery`` until then, now ``AgentAlert``), taken over with its
table from the ``integrations`` app (its 0008 let go of it): added to this app's state only;
its content type and permissions renamed."""

import django.db.models.deletion
from django.db import migrations, models

import integrations.alerts.models

from integrations.lib.moves import Move, content_types_moved, state_only


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('integrations', '0008_alerts_moved'),
        ('leads', '0007_agent_zillow_id'),
    ]

    operations = [
        state_only(
            migrations.CreateModel(
                name='AgentAlert',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('channel', models.CharField(choices=integrations.alerts.models.channel_choices, max_length=8)),
                    ('kind', models.CharField(choices=[('assigned', 'Assigned'), ('offered', 'Offered'), ('escalated', 'Escalated'), ('reminder', 'Reminder')], max_length=12)),
                    ('step', models.PositiveSmallIntegerField(default=0, help_text="The lead's escalation step when the alert was made.")),
                    ('status', models.CharField(choices=[('queued', 'Queued'), ('sent', 'Sent'), ('delivered', 'Delivered'), ('failed', 'Failed'), ('undelivered', 'Undelivered'), ('canceled', 'Not sent: no longer needed')], default='queued', max_length=12)),
                    ('to', models.CharField(blank=True, help_text='The number or address used.', max_length=254)),
                    ('body', models.TextField(blank=True, help_text='The text sent (SMS) or the subject (email).')),
                    ('provider_id', models.CharField(blank=True, help_text="Twilio's message SID or the email's Message-ID.", max_length=200)),
                    ('attempts', models.PositiveIntegerField(default=0)),
                    ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                    ('error_code', models.CharField(blank=True, max_length=20)),
                    ('last_error', models.TextField(blank=True)),
                    ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ('sent_at', models.DateTimeField(blank=True, help_text='The provider accepted it.', null=True)),
                    ('delivered_at', models.DateTimeField(blank=True, null=True)),
                    ('failed_at', models.DateTimeField(blank=True, null=True)),
                    ('updated_at', models.DateTimeField(auto_now=True)),
                    ('agent', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='agent_alerts', to='leads.agent')),
                    ('fallback_for', models.ForeignKey(blank=True, help_text='The failed alert on the other channel this one replaces.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='alerts.agentalert')),
                    ('lead', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='agent_alerts', to='leads.lead')),
                ],
                options={
                    'verbose_name': 'agent alert',
                    'db_table': 'integrations_delivery',
                    'ordering': ['-created_at', '-id'],
                    'indexes': [models.Index(condition=models.Q(('status', 'queued')), fields=['next_attempt_at'], name='delivery_due'), models.Index(fields=['provider_id'], name='delivery_provider_id'), models.Index(fields=['agent', 'channel', '-created_at'], name='delivery_agent_latest')],
                    'constraints': [models.UniqueConstraint(fields=('lead', 'agent', 'channel', 'kind', 'step'), name='delivery_one_alert_per_lead_agent_channel_kind')],
                },
            ),
        ),
        content_types_moved(
            [
                Move('integrations', 'delivery', 'alerts', 'agentalert', 'agent alert'),
            ]
        ),
    ]
