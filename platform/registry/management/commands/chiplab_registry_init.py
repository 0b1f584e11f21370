"""Register the engine's built-in encoders in MLflow (aliased champion) and set MLflow's aliases
of every model to the platform's; idempotent."""

from django.core.management.base import BaseCommand

from registry.services import registry_init


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        for version in registry_init():
            aliases = ", ".join(version.aliases) or "no alias"
            self.stdout.write(f"{version.name} v{version.version} ({aliases})")
