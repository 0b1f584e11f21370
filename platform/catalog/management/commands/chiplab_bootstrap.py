"""Create the demo lab, user, dataset and a simulated micrograph (idempotent)."""

import os
import secrets

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Lab, Membership, Role, User
from catalog import services as catalog
from catalog.models import Dataset


def demo_micrograph_tiff(*, seed: int = 0, size: int = 1024) -> bytes:
    """A simulated HAADF-STEM micrograph (STO/Ge interface) as a calibrated 16-bit TIFF."""
    # the simulator (scipy): only when a demo image is made
    from workers.fewshot import sim

    name = "sto_ge_interface"  # pyChip's own system: STO / Ge / amorphous, HAADF-like
    scene = sim.generate(name, seed=seed, size=(size, size))
    return sim.tiff_bytes(scene, description=f"Chiplab simulator case {name}")


class Command(BaseCommand):
    help = "Create a demo lab, a demo user and a dataset with a simulated micrograph."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("CHIPLAB_DEMO_USER", "demo"))
        parser.add_argument("--no-image", action="store_true")

    def handle(self, *args, username, no_image, **options):
        password = os.environ.get("CHIPLAB_DEMO_PASSWORD", "")
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            created = user is None
            if created:
                password = password or secrets.token_urlsafe(9)
                user = User.objects.create_user(
                    username=username, password=password, email=f"{username}@example.org"
                )
            lab, _ = Lab.objects.get_or_create(slug="demo", defaults={"name": "Demo Lab"})
            Membership.objects.get_or_create(user=user, lab=lab, defaults={"role": Role.OWNER})
            dataset = Dataset.objects.filter(lab=lab, title="Demo micrographs").first()
            if dataset is None:
                dataset = catalog.dataset_create(
                    user=user,
                    lab=lab,
                    title="Demo micrographs",
                    description="Simulated HAADF-STEM micrographs made by Chiplab's simulator.",
                    keywords=["HAADF-STEM", "simulation", "perovskite"],
                    licence="CC0-1.0",
                )
        if not no_image and not dataset.images.exists():
            upload = SimpleUploadedFile(
                "demo_haadf_sim.tif", demo_micrograph_tiff(), content_type="image/tiff"
            )
            catalog.image_upload(user=user, dataset=dataset, upload=upload)
        if created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo user created (shown once): username={username} password={password}"
                )
            )
        else:
            self.stdout.write(f"Demo user '{username}' already exists (lab '{lab.name}').")
