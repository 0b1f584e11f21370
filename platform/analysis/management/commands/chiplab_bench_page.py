"""``python manage.py chiplab_bench_page``: the Segment step in Chromium, click -> overlay."""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Time the Segment step in headless Chromium against a running server on this "
        "database and storage: a first Segment click and re-runs after support-set edits "
        "(click -> overlay drawn, the worker's part and the page's). See analysis/bench_page.py."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="the running server (make run)"
        )
        parser.add_argument("--size", type=int, default=4096, help="image side, 64..8192 px")
        parser.add_argument("--chip", type=int, default=32, help="chip size, 8..512 px")
        parser.add_argument(
            "--frames", type=int, default=1, help="1..100: a series of this many frames"
        )
        parser.add_argument(
            "--edits", type=int, default=8, help="support-set edits, each followed by a re-run"
        )
        parser.add_argument(
            "--pause", type=float, default=1.0, help="seconds from a map drawn to the next click"
        )
        parser.add_argument(
            "--reach",
            type=float,
            default=0.0,
            help="seconds from an example's vote to the Segment click (0: at once, the worst "
            "case for the re-run made ahead of the click)",
        )
        parser.add_argument(
            "--settle",
            type=float,
            default=5.0,
            help="seconds from the examples to the first click (the grid's embedding meanwhile)",
        )
        parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser")

    def handle(self, *args, url, size, chip, frames, edits, pause, reach, settle, chromium, **_):
        # the benchmark and its browser driver load when the command runs, not when listed
        from analysis.bench_page import run

        if not (64 <= size <= 8192 and 8 <= chip <= min(512, size) and 0 <= edits <= 100):
            raise CommandError("--size 64..8192, --chip 8..512 (at most --size), --edits 0..100")
        if not (0 <= pause <= 60 and 0 <= reach <= 60 and 0 <= settle <= 600):
            raise CommandError("--pause 0..60 s, --reach 0..60 s, --settle 0..600 s")
        if not 1 <= frames <= 100:
            raise CommandError("--frames 1..100")
        run(
            url=url,
            size=size,
            chip=chip,
            frames=frames,
            edits=edits,
            pause=pause,
            reach=reach,
            settle=settle,
            chromium=chromium,
            out=self.stdout.write,
        )
