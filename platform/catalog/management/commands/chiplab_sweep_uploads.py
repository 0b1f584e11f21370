"""Abort every direct upload past its expiry (its parts and staged object deleted).

    python manage.py chiplab_sweep_uploads

Workers run the same sweep every CHIPLAB_UPLOAD_SWEEP_SECONDS; this command is for a server
without workers, or for cron.
"""

from django.core.management.base import BaseCommand

from catalog.direct import direct_uploads_expire


class Command(BaseCommand):
    help = "Abort the direct uploads that expired before they were committed."

    def handle(self, *args, **options):
        n = direct_uploads_expire()
        self.stdout.write(f"{n} expired upload(s) aborted")
