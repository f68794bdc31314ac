"""``manage.py zip_places``: write routing's ZIP file again from the ``zipcodes`` data set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from leads.routing import ZIP_PLACES_FILE, zip_places_from_dataset, zip_places_write


class Command(BaseCommand):
    help = "Write leads/data/zip_places.tsv.gz from the zipcodes package (after upgrading it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, default=ZIP_PLACES_FILE, help="the file")

    def handle(self, *args: Any, **options: Any) -> None:
        places = zip_places_from_dataset()
        zip_places_write(places, options["output"])
        self.stdout.write(f"{len(places)} ZIPs written to {options['output']}")
