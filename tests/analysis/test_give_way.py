"""A job gives way, between frames, to its user's newer job on the same images: it goes back
to the queue right behind it (the newest such job's rank, not the broker's last level) and
resumes at the frames it has not handed over yet; both finish, newest first."""

import pytest

from analysis import artefacts
from analysis.models import JobStatus, SegmentationJob
from analysis.runner import give_way, segmentation_job_run
from analysis.runner import images as images_module
from analysis.runner import job as runner
from common.jobs import SEGMENTATION, delivery_begin, delivery_requeue
from tests.analysis.helpers import upload_ready_image
from tests.analysis.test_analysis_api import create, job_body
from tests.common.held_jobs import held_jobs
from workers.celery_app import app, route

pytestmark = pytest.mark.django_db
SEGMENT_TASK = "workers.tasks.segment.segment_job"


def _series(world, segmentable):
    series, _ = upload_ready_image(world, dataset=segmentable["image"].dataset, frames=3, seed=0)
    return series


def _queued(client, segmentable, images) -> str:
    with held_jobs():
        return create(client, **job_body(segmentable, images=images)).json()["id"]


def _frames(job_id) -> dict[int, str]:
    """Frame -> result id of the job's maps saved so far."""
    return {r.frame: str(r.pk) for r in SegmentationJob.objects.get(pk=job_id).results.all()}


def test_series_jobs_give_way_to_their_users_newer_job_and_resume_after_it(
    client_for, world, segmentable, monkeypatch, settings, django_capture_on_commit_callbacks
):
    """A correction session on a series: each job's first map, then the user segments again.
    Each job steps back for the next; none re-embeds what another embedded."""
    series = _series(world, segmentable)
    client = client_for(world.annotator)
    artefacts.MEMORY_CACHE.clear()
    embedded = []  # frames per embedding call
    real_embed = images_module.embed_frames
    monkeypatch.setattr(
        images_module,
        "embed_frames",
        lambda frames, **kw: embedded.append(len(frames)) or real_embed(frames, **kw),
    )
    real_hand_over = runner.hand_over

    def run_then_segment_again(job_id) -> tuple[str, list]:
        """Run a job's task; once its first map is shown, the user segments again."""
        newer = []

        def hand_over(saved, pixels):
            if not newer:
                newer.append(_queued(client, segmentable, [str(series.pk)]))
            return real_hand_over(saved, pixels)

        monkeypatch.setattr(runner, "hand_over", hand_over)
        with held_jobs() as held, django_capture_on_commit_callbacks(execute=True):
            segmentation_job_run(job_id=job_id)
        monkeypatch.setattr(runner, "hand_over", real_hand_over)
        return newer[0], held.args(SEGMENT_TASK)

    # the broker's priority of a message routed now (Redis: rank 0 first, ranks from 9 share)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    app.loader.import_default_modules()  # the task modules name their queues

    def level(job_id) -> int:
        return route(SEGMENT_TASK, [job_id], {}, {})["priority"]

    a = _queued(client, segmentable, [str(series.pk)])
    b, sent = run_then_segment_again(a)
    job = SegmentationJob.objects.get(pk=a)
    assert job.status == JobStatus.QUEUED and job.stage == give_way.WAITING
    assert job.worker == "" and job.started is not None
    first = _frames(a)
    assert list(first) == [0]  # its first map, then the newer job's turn
    assert sent == [(b,), (a,)]
    # sent again at b's level (a unfinished before b), after b's message: b is served first
    assert level(b) == level(a) == 1
    assert embedded == [1, 1]  # the support set's image, the series' frame 0: no more yet

    c, sent = run_then_segment_again(b)  # frame 0 from a's frames embedded so far
    assert list(_frames(b)) == [0] and sent == [(c,), (b,)]
    assert level(c) == level(b) == 2  # a and b unfinished before c; b's sent after c's
    assert embedded == [1, 1]

    # a's message (level 1) comes before c's: a gives way again at once, behind c
    with held_jobs() as held, django_capture_on_commit_callbacks(execute=True):
        segmentation_job_run(job_id=a)
    assert held.args(SEGMENT_TASK) == [(a,)] and list(_frames(a)) == [0]
    assert level(a) == 2  # sent after c's and b's messages at that level

    with held_jobs(), django_capture_on_commit_callbacks(execute=True):
        for job_id in (c, b, a):  # b and a do not step back for each other: both have a map
            segmentation_job_run(job_id=job_id)
            assert sorted(_frames(job_id)) == [0, 1, 2]
            assert SegmentationJob.objects.get(pk=job_id).status == JobStatus.RUNNING
    assert _frames(a)[0] == first[0]  # frame 0 not redone
    assert embedded == [1, 1, 1, 1]  # frames 1 and 2 by c, one at a time; then the cache


def test_no_giving_way_to_another_users_job_or_to_a_job_on_other_images(
    client_for, world, segmentable, monkeypatch, django_capture_on_commit_callbacks
):
    series = _series(world, segmentable)
    mine = client_for(world.annotator)
    older = _queued(mine, segmentable, [str(series.pk)])
    elsewhere = _queued(mine, segmentable, [str(segmentable["image"].pk)])
    theirs = _queued(client_for(world.owner), segmentable, [str(series.pk)])
    assert SegmentationJob.objects.filter(pk__in=[elsewhere, theirs]).count() == 2
    with held_jobs() as held, django_capture_on_commit_callbacks(execute=True):
        segmentation_job_run(job_id=older)
    assert SegmentationJob.objects.get(pk=older).status == JobStatus.RUNNING
    assert sorted(_frames(older)) == [0, 1, 2]
    assert held.args(SEGMENT_TASK) == []


def test_a_requeued_delivery_keeps_only_the_lost_ones_counted(client_for, world, segmentable):
    job_id = _queued(client_for(world.annotator), segmentable, [str(segmentable["image"].pk)])
    job = SegmentationJob.objects.get(pk=job_id)
    # one delivery lost with its worker, one ended with a retry, this one (retries 1) running
    SegmentationJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=3, worker="host:1:2#1"
    )
    assert delivery_requeue(SEGMENTATION, job.pk, retries=1, status=JobStatus.QUEUED)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == (JobStatus.QUEUED, 1, "")
    # the fresh message (retries 0) sees one lost delivery: a second one lost would fail it
    assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=2).value == "run"
    SegmentationJob.objects.filter(pk=job.pk).update(worker="")
    assert delivery_begin(SEGMENTATION, job.pk, retries=0, max_lost=2).value == "failed"
    # a row no longer running (cancelled meanwhile) is not put back
    job.refresh_from_db()
    assert not delivery_requeue(SEGMENTATION, job.pk, retries=0, status=JobStatus.QUEUED)
