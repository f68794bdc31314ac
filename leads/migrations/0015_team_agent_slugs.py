"""Teams' and agents' slugs, the names in their lead email addresses (``<team>@``,
``<team>+<agent>@``): each existing team's made from its name, each agent's from its
username, unique as the new constraints require."""

import re

import django.core.validators
from django.db import migrations, models

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$"
SLUG_MESSAGE = (
    "Lower-case letters, digits, dots, dashes and underscores, starting and ending with a "
    "letter or digit (it is the first part of an email address)."
)


def _slug(value, fallback):
    return re.sub(r"[^a-z0-9._-]+", "-", value.lower())[:50].strip("._-") or fallback


def _unique(base, taken):
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base[: 50 - len(str(n)) - 1]}-{n}"
    taken.add(slug)
    return slug


def fill_slugs(apps, schema_editor):
    team_model = apps.get_model("leads", "Team")
    agent_model = apps.get_model("leads", "Agent")
    taken: set[str] = set()
    for team in team_model.objects.order_by("pk"):
        team.slug = _unique(_slug(team.name, "team"), taken)
        team.save(update_fields=["slug"])
    per_team: dict[int, set[str]] = {}
    for agent in agent_model.objects.select_related("user").order_by("pk"):
        agent.slug = _unique(_slug(agent.user.username, "agent"), per_team.setdefault(agent.team_id, set()))
        agent.save(update_fields=["slug"])


def _slug_field(help_text):
    return models.CharField(
        blank=True,
        help_text=help_text,
        max_length=50,
        validators=[django.core.validators.RegexValidator(SLUG_PATTERN, SLUG_MESSAGE)],
    )


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0014_follow_ups'),
    ]

    operations = [
        migrations.AddField(
            model_name='team',
            name='slug',
            field=_slug_field(
                "The team's name in addresses: leads emailed to <slug>@ the lead email domain "
                "come to this team. Empty: made from the name."
            ),
        ),
        migrations.AddField(
            model_name='agent',
            name='slug',
            field=_slug_field(
                "The agent's name in addresses: leads emailed to <team slug>+<slug>@ the lead "
                "email domain are pinned to this agent. Empty: made from the username."
            ),
        ),
        migrations.RunPython(fill_slugs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='team',
            constraint=models.UniqueConstraint(condition=models.Q(('slug', ''), _negated=True), fields=('slug',), name='team_unique_slug'),
        ),
        migrations.AddConstraint(
            model_name='agent',
            constraint=models.UniqueConstraint(condition=models.Q(('slug', ''), _negated=True), fields=('team', 'slug'), name='agent_unique_slug'),
        ),
    ]
