"""``python manage.py chiplab_bench_segment``: API round trip of segmentation jobs."""

from django.core.management.base import BaseCommand, CommandError


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
            "--pause",
            type=float,
            default=0.0,
            help="seconds before each job (a user picking examples or looking at the map; the "
            "worker embeds the new grid or runs the previous job's chip-size check meanwhile)",
        )
        parser.add_argument(
            "--after",
            choices=("done", "shown"),
            default="done",
            help="the pause starts once the previous job is done, or once its map is shown "
            "(a user who re-runs at once, beside its downloads and chip-size check)",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=0,
            choices=range(0, 9),
            metavar="0..8",
            help="0: the workers make run starts (an interactive one for the jobs, a background "
            "one for the downloads, checks and ingests); N: one worker of N processes on every "
            "queue",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="use an already running worker instead of starting one",
        )
        parser.add_argument("--migrate", action="store_true", help="migrate the database first")
        parser.add_argument(
            "--chip-sizes", help="comma list: one round trip (or --stages row) per chip size"
        )
        parser.add_argument("--sizes", help="--stages: comma list of image sizes (default: --size)")
        parser.add_argument(
            "--stages",
            action="store_true",
            help="time the worker's steps in this process (no database, broker or worker)",
        )
        parser.add_argument("--repeats", type=int, default=3, help="--stages: timed runs")
        parser.add_argument(
            "--frames",
            type=int,
            default=0,
            help="2..500: one job over a simulated series of this many frames instead (the "
            "maps' pace, and the most frames waiting for their downloads at once)",
        )
        parser.add_argument(
            "--round-trips",
            action="store_true",
            help="with --frames: the round trips (--edits, --pause, --after) on the series "
            "instead of one job",
        )

    def handle(
        self,
        *args,
        size,
        chip,
        edits,
        pause,
        after,
        processes,
        no_worker,
        migrate,
        chip_sizes,
        sizes,
        stages,
        repeats,
        frames,
        round_trips,
        **options,
    ):
        # the benchmark and its test client load when the command runs, not when listed
        from django.core.management import call_command

        from analysis.bench import run
        from analysis.bench import stages as time_stages

        def out(line):
            self.stdout.write(line)

        chips = [int(c) for c in chip_sizes.split(",")] if chip_sizes else [chip]
        if stages:
            sizes = tuple(int(v) for v in sizes.split(",")) if sizes else (size,)
            time_stages(sizes=sizes, chips=tuple(chips), repeats=repeats, out=out)
            return
        if frames and not 2 <= frames <= 500:
            raise CommandError("--frames: 2..500")
        if migrate:
            call_command("migrate", verbosity=0)
        common = {"size": size, "processes": processes, "start_worker": not no_worker, "out": out}
        if frames and not round_trips:
            # the series benchmark loads when asked for
            from analysis.bench_series import series

            series(frames=frames, chip=chip, **common)
            return
        for c in chips:
            run(chip=c, frames=frames or 1, edits=edits, pause=pause, after=after, **common)
