"""``manage.py webpush_keys``: a new VAPID key pair for Web Push, as lines for ``.env``.

Keep the private key secret. Changing the pair later turns every device's notifications
off (their subscriptions were made for the old public key): agents turn them on again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations.alerts.push import vapid_keys


class Command(BaseCommand):
    help = "Print a new VAPID key pair for Web Push alerts, as lines for .env."

    def handle(self, *args: Any, **options: Any) -> None:
        public, private = vapid_keys()
        self.stdout.write(f"WEBPUSH_VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"WEBPUSH_VAPID_PRIVATE_KEY={private}")
