"""The marketing sync's models, taken over with their tables from the ``integrations`` app (its
0007_marketing_moved let go of them): added to this app's state only; content types moved."""

import django.db.models.deletion
from django.db import migrations, models

from integrations.lib.moves import Move, content_types_moved, state_only


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('integrations', '0007_marketing_moved'),
        ('leads', '0007_agent_zillow_id'),
    ]

    operations = [
        state_only(
            migrations.CreateModel(
                name='SyncRun',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('kind', models.CharField(choices=[('full', 'Full sync (every contact, through batches)'), ('reconcile', 'Reconciliation (changes made on the platform)')], max_length=16)),
                    ('status', models.CharField(choices=[('running', 'Running'), ('finished', 'Finished'), ('failed', 'Failed')], default='running', max_length=16)),
                    ('total', models.PositiveIntegerField(default=0, help_text='Contacts (or members) to handle.')),
                    ('done', models.PositiveIntegerField(default=0, help_text='Handled so far.')),
                    ('errored', models.PositiveIntegerField(default=0)),
                    ('changed', models.PositiveIntegerField(default=0, help_text='Contacts the run changed.')),
                    ('batches', models.JSONField(blank=True, default=list, help_text="The platform's batch ids and their progress.")),
                    ('since', models.DateTimeField(blank=True, help_text='Reconciliation: members changed since then.', null=True)),
                    ('error', models.TextField(blank=True)),
                    ('started_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ('submitted_at', models.DateTimeField(blank=True, help_text='Full sync: when its batches were handed over.', null=True)),
                    ('finished_at', models.DateTimeField(blank=True, null=True)),
                ],
                options={
                    'db_table': 'integrations_syncrun',
                    'ordering': ['-started_at', '-id'],
                },
            ),
            migrations.CreateModel(
                name='SyncState',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('email', models.EmailField(blank=True, help_text='The address the platform knows them by.', max_length=254)),
                    ('due_at', models.DateTimeField(blank=True, help_text='Push the contact then; empty: nothing to push.', null=True)),
                    ('version', models.PositiveIntegerField(default=0, editable=False)),
                    ('send_status', models.CharField(blank=True, help_text='A subscription change a person made in the CRM, sent with the next push.', max_length=16)),
                    ('pushed_hash', models.CharField(blank=True, editable=False, max_length=64)),
                    ('pushed_tags', models.JSONField(blank=True, default=list, editable=False)),
                    ('pushed_at', models.DateTimeField(blank=True, null=True)),
                    ('remote_status', models.CharField(blank=True, max_length=16)),
                    ('remote_changed_at', models.DateTimeField(blank=True, null=True)),
                    ('attempts', models.PositiveIntegerField(default=0)),
                    ('last_error', models.TextField(blank=True)),
                    ('error_permanent', models.BooleanField(default=False, help_text='The platform refused this contact for good (compliance state, forgotten email, invalid data): no more pushes until the email changes or an operator retries.')),
                    ('field_changes', models.JSONField(blank=True, default=dict, help_text='Per field, the last change: {"first_name": {"origin": "mailchimp", "at": "2026-11-30T10:00:00+00:00"}}.')),
                    ('updated_at', models.DateTimeField(auto_now=True)),
                    ('contact', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='marketing_sync', to='leads.contact')),
                ],
                options={
                    'verbose_name': 'marketing sync state',
                    'db_table': 'integrations_syncstate',
                    'indexes': [models.Index(condition=models.Q(('due_at__isnull', False)), fields=['due_at'], name='syncstate_due'), models.Index(fields=['email'], name='syncstate_email')],
                },
            ),
        ),
        content_types_moved(
            [
                Move('integrations', 'syncstate', 'marketing', 'syncstate'),
                Move('integrations', 'syncrun', 'marketing', 'syncrun'),
            ]
        ),
    ]
