"""Serializers of the dataset results table, result comparisons and the jobs overview."""

from django.utils import timezone
from rest_framework import serializers

from .dataset_results import RESULT_FILTERS
from .job_overview import WHO
from .models import JobStatus, SegmentationJob
from .serializers import JobQuerySerializer


# --- dataset results -------------------------------------------------------------------
class DatasetResultsQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="file name contains"
    )
    results = serializers.ChoiceField(
        choices=RESULT_FILTERS,
        required=False,
        default="all",
        help_text="images with a result, without one, or all",
    )
    sort = serializers.CharField(
        required=False,
        max_length=300,
        help_text="filename (default), created, confidence, result, fraction:<class> or "
        "objects:<class>; a leading - sorts descending (images without a value come last)",
    )


class DatasetResultClassSerializer(serializers.Serializer):
    name = serializers.CharField()
    colour = serializers.CharField()
    fraction = serializers.FloatField()
    fraction_ci_low = serializers.FloatField(allow_null=True)
    fraction_ci_high = serializers.FloatField(allow_null=True)
    fraction_std = serializers.FloatField(allow_null=True)
    chips = serializers.IntegerField(help_text="chips of this class")
    objects = serializers.IntegerField(
        allow_null=True, help_text="objects counted (classes marked as objects), else null"
    )


class DatasetResultRowSerializer(serializers.Serializer):
    image = serializers.UUIDField()
    filename = serializers.CharField()
    status = serializers.CharField(help_text="the image's status")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    result = serializers.UUIDField(allow_null=True, help_text="its latest result (frame 0)")
    job = serializers.UUIDField(allow_null=True)
    created = serializers.DateTimeField(allow_null=True)
    model_version = serializers.CharField()
    mean_confidence = serializers.FloatField(allow_null=True)
    interval = serializers.CharField(help_text="what the fraction interval is")
    classes = DatasetResultClassSerializer(many=True)


class DatasetAggregateSerializer(serializers.Serializer):
    name = serializers.CharField()
    colour = serializers.CharField()
    n_images = serializers.IntegerField(help_text="images whose result has this class")
    mean = serializers.FloatField(allow_null=True, help_text="mean fraction over those images")
    sd = serializers.FloatField(allow_null=True, help_text="sample s.d. across images")
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)


class _ClassSerializer(serializers.Serializer):
    name = serializers.CharField()
    colour = serializers.CharField()


class DatasetResultsSerializer(serializers.Serializer):
    dataset = serializers.UUIDField(source="dataset.pk")
    count = serializers.IntegerField(help_text="images after the filters")
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    classes = _ClassSerializer(many=True, help_text="every class of the rows, by name")
    aggregate = DatasetAggregateSerializer(
        many=True, help_text="per class over every filtered image (not only this page)"
    )
    results = DatasetResultRowSerializer(many=True, source="page")


# --- comparisons -----------------------------------------------------------------------
class _CompareSideSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    job = serializers.UUIDField()
    frame = serializers.IntegerField()
    created = serializers.DateTimeField()
    model_version = serializers.CharField()
    support_set = serializers.DictField()
    chip_size = serializers.IntegerField()
    offset = serializers.ListField(child=serializers.IntegerField(), help_text="(y, x)")
    rows = serializers.IntegerField()
    cols = serializers.IntegerField()
    classes = serializers.ListField(child=serializers.DictField())
    fractions = serializers.ListField(child=serializers.FloatField())
    mean_confidence = serializers.FloatField()


class _CompareClassSerializer(serializers.Serializer):
    name = serializers.CharField()
    colour = serializers.CharField()
    in_a = serializers.BooleanField()
    in_b = serializers.BooleanField()
    fraction_a = serializers.FloatField(allow_null=True)
    fraction_b = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True, help_text="fraction_b - fraction_a")


class _CompareMapSerializer(serializers.Serializer):
    cell_px = serializers.IntegerField(help_text="image pixels per map cell (side)")
    origin = serializers.ListField(
        child=serializers.IntegerField(), help_text="(y, x) of the first cell"
    )
    rows = serializers.IntegerField()
    cols = serializers.IntegerField()
    values = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="1: differs, 0: same, -1: not compared",
    )


class ComparisonSerializer(serializers.Serializer):
    a = _CompareSideSerializer()
    b = _CompareSideSerializer()
    level = serializers.ChoiceField(
        choices=["chip", "pixel"], help_text="chip: same grid; pixel: different grids"
    )
    unit_px = serializers.IntegerField()
    compared = serializers.IntegerField(help_text="chips (or pixels) both results cover")
    differing = serializers.IntegerField()
    differing_fraction = serializers.FloatField()
    classes = _CompareClassSerializer(many=True, help_text="the union of both results' classes")
    confusion = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="units of class i in a and class j in b (indices into classes)",
    )
    map = _CompareMapSerializer()


# --- jobs overview ---------------------------------------------------------------------
class JobOverviewQuerySerializer(serializers.Serializer):
    who = serializers.ChoiceField(
        choices=WHO, required=False, default="me", help_text="me: jobs you started; lab: all"
    )
    dataset = serializers.UUIDField(required=False, help_text="jobs on images of this dataset")
    status = serializers.CharField(required=False)

    validate_status = JobQuerySerializer.validate_status


class JobOverviewSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=JobStatus.choices, read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    n_images = serializers.IntegerField(read_only=True)
    images = serializers.SerializerMethodField()
    datasets = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()
    duration_s = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = SegmentationJob
        fields = [
            "id",
            "status",
            "created_by",
            "n_images",
            "images",
            "datasets",
            "model_version",
            "created",
            "started",
            "finished",
            "duration_s",
            "progress",
            "error",
        ]

    def get_images(self, job) -> list[dict]:
        """The first images of the job (n_images counts them all)."""
        return [
            {"id": str(ji.image_id), "filename": ji.image.original_filename}
            for ji in job.images_shown
        ]

    def get_datasets(self, job) -> list[dict]:
        seen = {}
        for ji in job.images_shown:
            d = ji.image.dataset
            seen.setdefault(d.pk, {"id": str(d.pk), "title": d.title})
        return list(seen.values())

    def get_model_version(self, job) -> str:
        return f"{job.model_version.name} v{job.model_version.version}"

    def get_duration_s(self, job) -> float | None:
        """Seconds from start to end (to now while running); null before it starts."""
        if job.started is None:
            return None
        end = job.finished or timezone.now()
        return round((end - job.started).total_seconds(), 1)

    def get_progress(self, job) -> dict:
        total = job.progress_total
        return {
            "done": job.progress_done,
            "total": total,
            "fraction": round(job.progress_done / total, 4) if total else 0.0,
        }
