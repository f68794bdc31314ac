"""Load the demo team when the database has none, then print where to start."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from integrations.intake.models import WebForm
from leads.models import Agent, Team, Territory

DEMO_PASSWORD = "leadline-demo"  # noqa: S105 - printed on purpose: demo data only
DEMO_FORM_KEY = "sunrise-demo"
AGENTS = [
    # username, name, phone, role
    ("maria", "Maria Lopez", "+13055550100", Agent.Role.MANAGER),
    ("alex", "Alex Carter", "+13055550101", Agent.Role.AGENT),
    ("bella", "Bella Nguyen", "+13055550102", Agent.Role.AGENT),
    ("carlos", "Carlos Ruiz", "+13055550103", Agent.Role.AGENT),
    ("dana", "Dana Brooks", "+19545550104", Agent.Role.AGENT),
]
TERRITORIES = [
    # name, ZIP codes, agents
    ("Miami Beach", ["33139", "33140", "33141"], ["alex", "bella"]),
    ("Coral Gables", ["33134", "33143", "33146"], ["carlos"]),
    ("Fort Lauderdale", ["33301", "33304", "33305"], ["dana"]),
]


class Command(BaseCommand):
    help = "Create the demo team, agents, territories and web form if there is no team yet."

    def handle(self, *args: Any, **options: Any) -> None:
        if Team.objects.exists():
            self.stdout.write("The database already has a team: demo data not loaded.")
        else:
            self._load()
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self._print_start()

    @transaction.atomic
    def _load(self) -> None:
        user_model = get_user_model()
        team = Team.objects.create(name="Sunrise Realty", time_zone="America/New_York")
        user_model.objects.create_superuser(
            "admin", "admin@sunrise.example", DEMO_PASSWORD, first_name="Ops"
        )
        agents = {}
        for username, name, phone, role in AGENTS:
            first, last = name.split(" ", 1)
            user = user_model.objects.create_user(
                username, f"{username}@sunrise.example", DEMO_PASSWORD,
                first_name=first, last_name=last, is_staff=role == Agent.Role.MANAGER,
            )  # fmt: skip
            agents[username] = Agent.objects.create(
                user=user, team=team, role=role, display_name=name,
                email=user.email, mobile_phone=phone,
            )  # fmt: skip
        for name, zips, members in TERRITORIES:
            territory = Territory.objects.create(team=team, name=name, zip_codes=zips)
            territory.agents.set([agents[m] for m in members])
        WebForm.objects.create(
            public_key=DEMO_FORM_KEY,
            name="Website contact form",
            team=team,
            title="Find your next home in South Florida",
            allowed_origins=["http://localhost:8000", "http://127.0.0.1:8000"],
            marketing_consent_text="Send me new listings and market news by email.",
        )

    def _print_start(self) -> None:
        site = settings.SITE_URL
        form = WebForm.objects.filter(is_active=True).order_by("pk").first()
        lines = [
            "",
            f"  Leadline:   {site}/",
            f"  Admin:      {site}{reverse('admin:index')}",
        ]
        if form:
            lines.append(f"  Demo form:  {site}{form.get_absolute_url()}")
        if Team.objects.filter(name="Sunrise Realty").exists():
            lines += [
                f"  Logins (password {DEMO_PASSWORD}):",
                "    admin   operations (superuser)",
                "    maria   manager, Sunrise Realty",
                "    alex, bella, carlos, dana   agents",
                "  ZIPs: 33139 33140 33141 go to Miami Beach (Alex, Bella),",
                "        33134 33143 33146 to Coral Gables (Carlos), 33301 33304 33305 to Fort",
                "        Lauderdale (Dana); any other ZIP stays in the team's pool.",
            ]
            if settings.EMAIL_INTAKE_DOMAIN:
                lines.append(
                    f"  Lead email: sunrise-realty@{settings.EMAIL_INTAKE_DOMAIN} (try "
                    ".venv/bin/python manage.py email_ingest < docs/samples/lead-metadata.eml)"
                )
        self.stdout.write("\n".join(lines) + "\n")
