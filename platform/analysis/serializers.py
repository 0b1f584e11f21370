from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.selectors import role_in_lab
from labeling.models import ConsensusRule

from .artefacts import EXPORT_KINDS
from .models import JobStatus, SegmentationJob, SegmentationResult
from .services import job_permissions


class JobParamsSerializer(serializers.Serializer):
    temperature = serializers.JSONField(
        required=False,
        help_text='"encoder" (default: the temperature the encoder was trained '
        'with), "auto" (calibrated on the support chips) or a number',
    )
    bootstrap = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2000,
        help_text="support-chip resamples for the fraction uncertainty (0 = off; default 200)",
    )
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    refine = serializers.BooleanField(required=False, help_text="transductive prototype refinement")
    smooth = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=4,
        help_text="neighbour smoothing of chip probabilities",
    )
    boundary = serializers.BooleanField(
        required=False,
        help_text="re-decide chips on class boundaries by the class fractions unmixed from "
        "their pixels (default true); their probabilities are then those fractions",
    )
    weighting = serializers.BooleanField(
        required=False,
        help_text="weight the encoder's feature groups per support set, chosen leave-one-out "
        "on the support chips (default true; e.g. drops intensity features when the examples "
        "show they mislead)",
    )
    pixel_vote = serializers.BooleanField(
        required=False,
        help_text="make the full-resolution pixel map and give each chip the class most of its "
        "pixels have (default true); chips changed by the vote show low confidence",
    )
    spatial = serializers.BooleanField(
        required=False,
        help_text="spatial prior: neighbouring chips that look alike tend to share a class "
        "(mean-field smoothing of chip probabilities, default true; off with one example "
        "per class)",
    )
    chip_size = serializers.IntegerField(
        required=False, min_value=1, help_text="must equal the support set's chip size"
    )
    offset = serializers.ListField(
        child=serializers.IntegerField(min_value=0),
        min_length=2,
        max_length=2,
        required=False,
        help_text="(y, x); must equal the support set's offset",
    )


class JobCreateSerializer(serializers.Serializer):
    support_set = serializers.UUIDField(
        required=False, allow_null=True, help_text="a frozen support-set version"
    )
    schema = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="instead of support_set: freeze this schema's working set now",
    )
    rule = serializers.ChoiceField(
        choices=ConsensusRule.choices,
        required=False,
        help_text="with schema (default single_owner)",
    )
    owner = serializers.UUIDField(
        required=False, allow_null=True, help_text="with rule=single_owner (default: yourself)"
    )
    min_votes = serializers.IntegerField(required=False, min_value=1, max_value=100, default=2)
    model_version = serializers.UUIDField(
        required=False, allow_null=True, help_text="default: the lab's champion"
    )
    images = serializers.JSONField(
        help_text='a list of image ids, or {"dataset": <id>} for every image of a dataset'
    )
    params = JobParamsSerializer(required=False)


class ThumbnailQuerySerializer(serializers.Serializer):
    size = serializers.IntegerField(
        required=False, min_value=16, max_value=256, default=96, help_text="long side, px"
    )


class JobQuerySerializer(serializers.Serializer):
    image = serializers.UUIDField(required=False)
    lab = serializers.UUIDField(required=False)
    grid = serializers.UUIDField(required=False)
    status = serializers.CharField(required=False)

    def validate_status(self, value: str) -> list[str]:
        wanted = [s.strip() for s in value.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in JobStatus.values]
        if unknown or not wanted:
            raise serializers.ValidationError(
                f"{', '.join(unknown) or 'nothing'}: use one or more of "
                f"{', '.join(JobStatus.values)}, comma-separated."
            )
        return wanted


def _links_of_result(result) -> dict:
    """The result and the exports it has (series.csv only for time series)."""
    return {
        "self": reverse("segmentation-result-detail", args=[result.pk]),
        **{
            kind: reverse("segmentation-result-export", args=[result.pk, kind])
            for kind in EXPORT_KINDS
            if kind in result.artefacts
        },
    }


class ResultModelSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class ResultSerializer(serializers.ModelSerializer):
    job = serializers.UUIDField(source="job_id", read_only=True)
    image = serializers.UUIDField(source="image_id", read_only=True)
    grid = serializers.UUIDField(source="grid_id", read_only=True)
    model = ResultModelSerializer(
        source="job.model_version", read_only=True, help_text="the model version of its job"
    )
    links = serializers.SerializerMethodField()

    class Meta:
        model = SegmentationResult
        fields = [
            "id",
            "job",
            "image",
            "frame",
            "grid",
            "rows",
            "cols",
            "classes",
            "counts",
            "fractions",
            "fraction_std",
            "areas",
            "area_unit",
            "mean_confidence",
            "created",
            "model",
            "links",
        ]

    def get_links(self, result) -> dict:
        return _links_of_result(result)


class DisagreementSerializer(serializers.Serializer):
    image = serializers.CharField(help_text="id of the image the example was clicked on")
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    class_index = serializers.IntegerField(source="class", help_text="the class it was clicked as")
    predicted_index = serializers.IntegerField(
        source="predicted", help_text="the class the model gives it, held out"
    )
    probability = serializers.FloatField(help_text="held-out probability of predicted_index")


class SupportCheckSerializer(serializers.Serializer):
    method = serializers.CharField()
    n_checked = serializers.IntegerField()
    n_examples = serializers.IntegerField()
    disagree = DisagreementSerializer(many=True)


class PixelMapSerializer(serializers.Serializer):
    n_pixels = serializers.IntegerField(help_text="pixels the map covers")
    counts = serializers.ListField(child=serializers.IntegerField(), help_text="pixels per class")
    fractions = serializers.ListField(child=serializers.FloatField())
    areas = serializers.ListField(
        child=serializers.FloatField(), required=False, help_text="when the image is calibrated"
    )
    area_unit = serializers.CharField(required=False)
    mean_confidence = serializers.FloatField()
    uncertain_fraction = serializers.FloatField(
        help_text="share of pixels whose confidence is below uncertain_below"
    )
    uncertain_below = serializers.FloatField()
    method = serializers.CharField()


class ResultDetailSerializer(ResultSerializer):
    pixel_map = PixelMapSerializer(
        source="stats.pixels",
        read_only=True,
        allow_null=True,
        help_text="statistics of the full-resolution map (exports mask.png, confidence.png); "
        "null for results from before pixel maps",
    )
    objects = serializers.DictField(
        source="stats.objects",
        child=serializers.JSONField(),
        read_only=True,
        allow_null=True,
        help_text="per class marked as objects (by name): count, number density and the "
        "equivalent-diameter distribution with bootstrap intervals "
        "(workers.fewshot.objects.size_distribution); the particles are in particles.csv",
    )
    support_check = SupportCheckSerializer(
        source="stats.support_check",
        read_only=True,
        allow_null=True,
        help_text="every support chip classified leave-one-out (without itself); the examples "
        "the model would label as another class (null for results from before the check)",
    )
    labels = serializers.SerializerMethodField(help_text="class index per chip (rows x cols)")
    confidence = serializers.SerializerMethodField(help_text="max probability per chip")
    job_status = serializers.CharField(source="job.status", read_only=True)

    class Meta(ResultSerializer.Meta):
        fields = [
            *ResultSerializer.Meta.fields,
            "job_status",
            "pixel_map",
            "objects",
            "support_check",
            "labels",
            "confidence",
            "stats",
            "provenance",
        ]

    def get_labels(self, result) -> list[list[int]]:
        return self.context["arrays"]["labels"].astype(int).tolist()

    def get_confidence(self, result) -> list[list[float]]:
        return [[round(float(v), 5) for v in row] for row in self.context["arrays"]["confidence"]]


def _job_images(job) -> list:
    """The job's images in order: from the list selector's prefetch, one query per page."""
    return sorted(job.job_images.all(), key=lambda ji: ji.order)


class JobSerializer(serializers.ModelSerializer):
    lab = serializers.UUIDField(source="lab_id", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    support_set = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()
    rerun_of = serializers.UUIDField(source="rerun_of_id", read_only=True, allow_null=True)
    progress = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=JobStatus.choices, read_only=True)
    links = serializers.SerializerMethodField()
    grids = serializers.SerializerMethodField()
    permissions = serializers.SerializerMethodField()

    class Meta:
        model = SegmentationJob
        fields = [
            "id",
            "lab",
            "created_by",
            "support_set",
            "model_version",
            "images",
            "grids",
            "permissions",
            "params",
            "status",
            "progress",
            "timings",
            "error",
            "code_version",
            "rerun_of",
            "created",
            "started",
            "finished",
            "links",
        ]

    def get_support_set(self, job) -> dict:
        v = job.support_set
        return {
            "id": str(v.pk),
            "number": v.number,
            "schema": str(v.schema_id),
            "rule": v.rule,
            "params": v.params,
        }

    def get_grids(self, job) -> list[str]:
        """The grid each image is segmented on, in the images' order."""
        return [str(ji.grid_id) for ji in _job_images(job)]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {"rerun": {"type": "boolean"}, "cancel": {"type": "boolean"}},
            "description": "What the requesting user may do with this job.",
        }
    )
    def get_permissions(self, job) -> dict:
        request = self.context.get("request")
        if request is None:
            return {"rerun": False, "cancel": False}
        roles = self.context.setdefault("roles", {})  # one lookup per lab, not per job
        if job.lab_id not in roles:
            roles[job.lab_id] = role_in_lab(user=request.user, lab_id=job.lab_id)
        return job_permissions(user=request.user, job=job, role=roles[job.lab_id])

    def get_model_version(self, job) -> dict:
        m = job.model_version
        return {
            "id": str(m.pk),
            "name": m.name,
            "version": m.version,
            "encoder_kind": m.encoder_kind,
        }

    def get_images(self, job) -> list[str]:
        return [str(ji.image_id) for ji in _job_images(job)]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "done": {"type": "integer"},
                "total": {"type": "integer"},
                "fraction": {"type": "number"},
                "stage": {"type": "string"},
            },
            "description": "Chips classified of the job's total, and what the worker is doing "
            "now (empty when it is not running).",
        }
    )
    def get_progress(self, job) -> dict:
        total = job.progress_total
        return {
            "done": job.progress_done,
            "total": total,
            "stage": job.stage,
            "fraction": round(job.progress_done / total, 4) if total else 0.0,
        }

    def get_links(self, job) -> dict:
        return {
            "self": reverse("segmentation-job-detail", args=[job.pk]),
            "cancel": reverse("segmentation-job-cancel", args=[job.pk]),
            "rerun": reverse("segmentation-job-rerun", args=[job.pk]),
        }


class JobDetailSerializer(JobSerializer):
    results = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "results"]

    def get_results(self, job) -> list[dict]:
        """Results in the job's image order, then by frame."""
        order = dict(job.job_images.values_list("image_id", "order"))
        results = sorted(job.results.all(), key=lambda r: (order.get(r.image_id, 0), r.frame))
        return ResultSerializer(results, many=True).data


class _MatchSerializer(serializers.Serializer):
    identical = serializers.BooleanField()
    differing = serializers.IntegerField(allow_null=True, help_text="null: shapes differ")
    total = serializers.IntegerField()


class RederiveReportSerializer(serializers.Serializer):
    """What re-running a published result from its version's provenance gave."""

    version = serializers.UUIDField()
    result = serializers.UUIDField()
    identical = serializers.BooleanField(
        help_text="chip labels, pixel mask and fractions all bit-identical to the published ones"
    )
    chip_labels = _MatchSerializer()
    pixel_mask = _MatchSerializer()
    fractions = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField()),
        help_text="published and rederived class fractions",
    )
    model_version = serializers.DictField()
    code_version = serializers.DictField(
        child=serializers.CharField(allow_null=True), help_text="published and now"
    )
    seconds = serializers.FloatField()
