"""Re-derive the results of a published dataset version from its provenance alone.

    python manage.py chiplab_rederive VERSION_ID [--result RESULT_ID ...]

Prints one JSON report per result (``analysis.rederive``) and exits with 1 when any result
does not come out bit-identical, 2 when one cannot be re-derived (model, file or image
missing, provenance inconsistent).
"""

import json

from django.core.management.base import BaseCommand, CommandError

from analysis.rederive import result_rederive
from catalog.models import DatasetVersion
from common.errors import ChiplabError


class Command(BaseCommand):
    help = "Re-run a published dataset version's results from their provenance; bit-identical?"

    def add_arguments(self, parser):
        parser.add_argument("version", help="dataset version id")
        parser.add_argument(
            "--result", action="append", default=[], help="only this result (repeatable)"
        )

    def handle(self, *args, version, result, **options):
        found = DatasetVersion.objects.filter(pk=version).first()
        if found is None:
            raise CommandError(f"No dataset version {version}.")
        ids = result or [r["id"] for r in (found.manifest or {}).get("results", [])]
        if not ids:
            raise CommandError("The version has no results to re-derive.")
        status = 0
        for result_id in ids:
            try:
                report = result_rederive(version=found, result_id=result_id)
            except ChiplabError as err:
                self.stdout.write(json.dumps({"result": result_id, "error": str(err)}))
                status = 2
                continue
            self.stdout.write(json.dumps(report))
            if not report["identical"] and status == 0:
                status = 1
        if status:
            raise SystemExit(status)
