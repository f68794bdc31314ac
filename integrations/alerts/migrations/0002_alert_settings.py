"""The agents' alert settings, moved from ``leads.Agent`` with their values."""

import django.db.models.deletion
from django.db import migrations, models


FIELDS = (
    "sms_enabled", "email_enabled", "quiet_hours_start", "quiet_hours_end",
    "include_contact_details", "sms_opted_out_at", "phone_problem", "email_problem",
)


def copy_from_agents(apps, schema_editor):
    """One row per agent, with the values their ``Agent`` row held."""
    agent_model = apps.get_model("leads", "Agent")
    settings_model = apps.get_model("alerts", "AlertSettings")
    settings_model.objects.bulk_create(
        settings_model(agent_id=row["pk"], **{name: row[name] for name in FIELDS})
        for row in agent_model.objects.values("pk", *FIELDS)
    )


def copy_to_agents(apps, schema_editor):
    agent_model = apps.get_model("leads", "Agent")
    for row in apps.get_model("alerts", "AlertSettings").objects.values("agent_id", *FIELDS):
        agent_model.objects.filter(pk=row.pop("agent_id")).update(**row)


class Migration(migrations.Migration):

    run_before = [('leads', '0011_agent_edge_fields_moved')]

    dependencies = [
        ('alerts', '0001_initial'),
        ('leads', '0010_contact_search_name'),
    ]

    operations = [
        migrations.CreateModel(
            name='AlertSettings',
            fields=[
                ('agent', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='alert_settings', serialize=False, to='leads.agent')),
                ('sms_enabled', models.BooleanField(default=True, verbose_name='SMS alerts')),
                ('email_enabled', models.BooleanField(default=True, verbose_name='Email alerts')),
                ('quiet_hours_start', models.TimeField(blank=True, help_text="From this time (the agent's time zone) alerts come by email only, and SMS waits until the quiet hours end unless the lead is hot.", null=True)),
                ('quiet_hours_end', models.TimeField(blank=True, null=True)),
                ('include_contact_details', models.BooleanField(default=False, help_text="Off: the text carries a link only, so the person's details stay in the app.", verbose_name="Lead's phone and email in SMS alerts")),
                ('sms_opted_out_at', models.DateTimeField(blank=True, help_text='The agent texted STOP: SMS alerts wait for START.', null=True)),
                ('phone_problem', models.CharField(blank=True, help_text='The SMS provider refused this phone; fix it.', max_length=300)),
                ('email_problem', models.CharField(blank=True, help_text='The mail server refused this address; fix it.', max_length=300)),
            ],
            options={
                'verbose_name': 'alert settings',
                'verbose_name_plural': 'alert settings',
            },
        ),
        migrations.RunPython(copy_from_agents, copy_to_agents),
    ]
