"""The agent's alert preferences and channel problems now live in the alerts app
(``AlertSettings``), their Zillow id in intake (``SourceAgentId``): those apps' migrations
copy the values first (they run before this one), then the fields go."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0010_contact_search_name'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='agent',
            name='agent_unique_zillow_id',
        ),
        migrations.RemoveField(
            model_name='agent',
            name='email_enabled',
        ),
        migrations.RemoveField(
            model_name='agent',
            name='email_problem',
        ),
        migrations.RemoveField(
            model_name='agent',
            name='include_contact_details',
        ),
        migrations.RemoveField(
            model_name='agent',
            name='phone_problem',
        ),
        migrations.RemoveField(
            model_name='agent',
            name='quiet_hours_end',
        ),
        migrations.RemoveField(
            model_name='agent',
            name='quiet_hours_start',
        ),
        migrations.RemoveField(
            model_name='agent',
            name='sms_enabled',
        ),
        migrations.RemoveField(
            model_name='agent',
            name='sms_opted_out_at',
        ),
        migrations.RemoveField(
            model_name='agent',
            name='zillow_id',
        ),
    ]
