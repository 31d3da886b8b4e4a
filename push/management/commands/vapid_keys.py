"""Print a fresh VAPID key pair for Web Push, as environment lines (docs/phones.md)."""

from django.core.management.base import BaseCommand

from push.services import new_key_pair


class Command(BaseCommand):
    help = "Print a fresh VAPID key pair (VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY) for Web Push."

    def handle(self, *args, **options) -> None:
        public, private = new_key_pair()
        self.stdout.write(f"VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}")
        self.stderr.write("Keep the private key secret, and keep the pair: new keys orphan every subscription.")
