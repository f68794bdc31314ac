"""Agents' ids at the lead sources, with the Zillow ids ``leads.Agent`` held."""

import django.db.models.deletion
from django.db import migrations, models


def copy_from_agents(apps, schema_editor):
    """The Zillow id each agent's row held, as their id at the ``zillow`` source."""
    agent_model = apps.get_model("leads", "Agent")
    ids_model = apps.get_model("intake", "SourceAgentId")
    ids_model.objects.bulk_create(
        ids_model(agent_id=pk, source="zillow", external_id=zillow_id)
        for pk, zillow_id in agent_model.objects.exclude(zillow_id="").values_list("pk", "zillow_id")
    )


def copy_to_agents(apps, schema_editor):
    agent_model = apps.get_model("leads", "Agent")
    for known in apps.get_model("intake", "SourceAgentId").objects.filter(source="zillow"):
        agent_model.objects.filter(pk=known.agent_id).update(zillow_id=known.external_id)


class Migration(migrations.Migration):

    run_before = [('leads', '0011_agent_edge_fields_moved')]

    dependencies = [
        ('intake', '0001_initial'),
        ('leads', '0010_contact_search_name'),
    ]

    operations = [
        migrations.CreateModel(
            name='SourceAgentId',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source', models.CharField(max_length=32)),
                ('external_id', models.CharField(max_length=100, verbose_name='identifier')),
                ('agent', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='source_ids', to='leads.agent')),
            ],
            options={
                'verbose_name': "agent's id at a source",
                'verbose_name_plural': "agents' ids at sources",
                'constraints': [models.UniqueConstraint(fields=('source', 'external_id'), name='sourceagentid_unique_per_source'), models.UniqueConstraint(fields=('agent', 'source'), name='sourceagentid_one_per_agent')],
            },
        ),
        migrations.RunPython(copy_from_agents, copy_to_agents),
    ]
