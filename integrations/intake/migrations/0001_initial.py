"""Lead intake's models, taken over with their tables from the ``integrations`` app (its 0009
let go of them): added to this app's state only; their content types moved."""

import uuid

import django.db.models.deletion
from django.db import migrations, models

import integrations.intake.models

from integrations.lib.moves import Move, content_types_moved, state_only


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('integrations', '0009_intake_moved'),
        ('leads', '0007_agent_zillow_id'),
    ]

    operations = [
        state_only(
            migrations.CreateModel(
                name='FacebookPage',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('page_id', models.CharField(max_length=64, unique=True, verbose_name='Page id')),
                    ('name', models.CharField(max_length=200)),
                    ('access_token_encrypted', models.TextField(blank=True, editable=False)),
                    ('status', models.CharField(choices=[('active', 'Active'), ('needs_reauth', 'Needs re-authorisation')], default='active', max_length=16)),
                    ('status_reason', models.CharField(blank=True, editable=False, max_length=500)),
                    ('field_mapping', models.JSONField(blank=True, default=dict, help_text='Per form, custom question key to lead field, e.g. {"<form id>": {"when_are_you_buying?": "message", "zip_(5_digits)": "property_zip"}}; use "*" for every form.')),
                    ('forms', models.JSONField(blank=True, default=dict, editable=False, help_text='What we read of each lead form: its name and consent checkbox wording.')),
                    ('last_backfill_at', models.DateTimeField(blank=True, editable=False, null=True)),
                    ('last_lead_time', models.DateTimeField(blank=True, editable=False, help_text='The newest lead creation time seen by the backfill; it asks for later ones.', null=True)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('team', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='facebook_pages', to='leads.team')),
                ],
                options={
                    'db_table': 'integrations_facebookpage',
                    'ordering': ['name'],
                },
            ),
            migrations.CreateModel(
                name='InboundEvent',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('public_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                    ('source', models.CharField(db_index=True, max_length=32)),
                    ('external_id', models.CharField(blank=True, help_text="The sender's own id for this delivery; unique per source when present.", max_length=200)),
                    ('body', models.BinaryField(help_text='The request body exactly as it arrived.')),
                    ('content_type', models.CharField(blank=True, max_length=200)),
                    ('headers', models.JSONField(blank=True, default=dict, help_text='The headers that matter.')),
                    ('remote_addr', models.GenericIPAddressField(blank=True, null=True)),
                    ('meta', models.JSONField(blank=True, default=dict, help_text='What the receiving view knew: form, page, token.')),
                    ('status', models.CharField(choices=[('received', 'Received'), ('processed', 'Processed'), ('failed', 'Failed'), ('ignored', 'Ignored')], default='received', max_length=16)),
                    ('error', models.TextField(blank=True)),
                    ('attempts', models.PositiveIntegerField(default=0)),
                    ('received_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                    ('next_attempt_at', models.DateTimeField(blank=True, help_text="Not before then: the source asked to wait (a throttled API, a page to re-authorise). Empty: the sweeper's usual deadline.", null=True)),
                    ('processed_at', models.DateTimeField(blank=True, null=True)),
                    ('lead', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='leads.lead')),
                ],
                options={
                    'db_table': 'integrations_inboundevent',
                    'ordering': ['-received_at', '-id'],
                },
            ),
            migrations.CreateModel(
                name='LeadSource',
                fields=[
                ],
                options={
                    'verbose_name': 'lead source',
                    'verbose_name_plural': 'lead sources: health',
                    'proxy': True,
                    'indexes': [],
                    'constraints': [],
                },
                bases=('intake.inboundevent',),
            ),
            migrations.CreateModel(
                name='WebForm',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('public_key', models.CharField(default=integrations.intake.models.new_public_key, max_length=32, unique=True)),
                    ('name', models.CharField(max_length=120)),
                    ('title', models.CharField(default='Tell us what you are looking for', max_length=200)),
                    ('allowed_origins', models.JSONField(blank=True, default=list, help_text='Sites that may embed the form or post to it, e.g. https://www.example.com.')),
                    ('return_url', models.URLField(blank=True, help_text='Where a browser goes after submitting; empty shows a thank-you page.')),
                    ('consent_text', models.TextField(default='I agree to be contacted by phone, text message and email about my inquiry, including by automated means. Consent is not a condition of purchase.', help_text='Shown beside the consent checkbox and stored, word for word, with each lead.')),
                    ('consent_required', models.BooleanField(default=True)),
                    ('marketing_consent_text', models.TextField(blank=True, help_text='Optional second checkbox for marketing email; empty hides it.')),
                    ('default_lead_type', models.CharField(choices=[('buyer', 'Buyer'), ('seller', 'Seller'), ('renter', 'Renter'), ('other', 'Other')], default='buyer', max_length=16)),
                    ('is_active', models.BooleanField(default=True)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('team', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='web_forms', to='leads.team')),
                ],
                options={
                    'db_table': 'integrations_webform',
                    'ordering': ['name'],
                },
            ),
            migrations.AddIndex(
                model_name='inboundevent',
                index=models.Index(condition=models.Q(('status', 'received')), fields=['received_at'], name='inboundevent_pending'),
            ),
            migrations.AddIndex(
                model_name='inboundevent',
                index=models.Index(fields=['source', 'status', '-received_at'], name='integration_source_9f3baa_idx'),
            ),
            migrations.AddConstraint(
                model_name='inboundevent',
                constraint=models.UniqueConstraint(condition=models.Q(('external_id', ''), _negated=True), fields=('source', 'external_id'), name='inboundevent_unique_source_external_id'),
            ),
        ),
        content_types_moved(
            [
                Move('integrations', 'inboundevent', 'intake', 'inboundevent'),
                Move('integrations', 'leadsource', 'intake', 'leadsource'),
                Move('integrations', 'webform', 'intake', 'webform'),
                Move('integrations', 'facebookpage', 'intake', 'facebookpage'),
            ]
        ),
    ]
