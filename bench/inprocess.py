"""Django set up in the bench's own process, on a PostgreSQL database of its own.

For the benches that call Leadline's services directly (no server): ``bench/claims.py`` and
``bench/sweep.py``. The database named by ``--database-url`` is dropped and made again, so its
name must start with ``leadline_bench``.
"""

from __future__ import annotations

import argparse
import logging
import os

from bench.routing import recreate_database


def django_on_own_database(
    parser: argparse.ArgumentParser, args: argparse.Namespace, name: str, **env: str
) -> None:
    """Recreate ``args.database_url``, configure production settings for it (``args.broker``:
    orm or redis at ``args.redis_url``; ``env`` added), set Django up and migrate."""
    if not args.database_url.rsplit("/", 1)[1].startswith("leadline_bench"):
        parser.error("the database name must start with leadline_bench: it is dropped first")
    recreate_database(args.database_url)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": args.database_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "localhost",
            "LOG_LEVEL": "WARNING",
            "Q_CLUSTER_NAME": f"leadline-bench-{name}-{os.getpid()}",
            **env,
        }
    )
    if args.broker == "redis":
        os.environ["REDIS_URL"] = args.redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    logging.getLogger("django-q").setLevel(logging.WARNING)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
