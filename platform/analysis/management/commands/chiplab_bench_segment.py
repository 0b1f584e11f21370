"""``python manage.py chiplab_bench_segment``: API round trip of segmentation jobs."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Benchmark job creation -> finished result through the API and a real worker "
        "(1024 x 1024 simulated micrograph, 32 px chips). See analysis/bench.py."
    )

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, default=1024)
        parser.add_argument("--chip", type=int, default=32)
        parser.add_argument(
            "--edits", type=int, default=5, help="support-set edits, each followed by a job"
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="use an already running worker instead of starting one",
        )
        parser.add_argument("--migrate", action="store_true", help="migrate the database first")

    def handle(self, *args, size, chip, edits, no_worker, migrate, **options):
        from django.core.management import call_command

        from analysis.bench import run

        if migrate:
            call_command("migrate", verbosity=0)
        run(
            size=size,
            chip=chip,
            edits=edits,
            start_worker=not no_worker,
            out=lambda line: self.stdout.write(line),
        )
