from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.selectors import role_in_lab
from labeling.models import ConsensusRule

from .models import JobStatus, SegmentationJob
from .result_serializers import (  # noqa: F401 (re-exported: the apis import them from here)
    DisagreementSerializer,
    PixelMapSerializer,
    RederiveReportSerializer,
    ResultDetailSerializer,
    ResultModelSerializer,
    ResultSerializer,
    SupportCheckSerializer,
)
from .selectors import MAX_MAP_WAIT
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
        "show they mislead); never where a class is marked as objects",
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
    peaks = serializers.BooleanField(
        required=False,
        help_text="support-peak features: each chip's lattice peaks read at the support chips' "
        "strongest spectral peaks, used where they fix leave-one-out errors on the support "
        "chips (default true; separates grains that differ only by orientation)",
    )
    metric = serializers.BooleanField(
        required=False,
        help_text="per-task metric: distances discount the directions in which a class's own "
        "examples differ (their within-class spread, shrunk towards plain distances; default "
        "true; needs two examples of a class)",
    )
    object_kinds = serializers.BooleanField(
        required=False,
        help_text="one kind per particle: with two or more classes marked as objects (e.g. "
        "round and rod-shaped particles), each particle of the pixel map takes one kind from "
        "its pixels and its shape and intensity profile, matched to the particles under the "
        "examples (default false: it helped on the selection set, not on the report set; "
        "turn it on where kinds differ in shape or profile over the whole particle)",
    )
    texture_view = serializers.BooleanField(
        required=False,
        help_text="texture view: where no class is marked as objects, distances also compare "
        "the chips' local binary patterns, which no brightness or contrast change alters "
        "(grains, phases or textures whose brightness varies from region to region; default "
        "true; needs two examples of a class)",
    )
    support_shifts = serializers.BooleanField(
        required=False,
        help_text="shifted examples: where no class is marked as objects, the class "
        "prototypes and distances are also fitted to copies of each example chip shifted by a "
        "quarter chip up, down, left and right (default true; needs two examples of a class)",
    )
    object_edges = serializers.BooleanField(
        required=False,
        help_text="object edges: the outlines of the classes marked as objects in the pixel "
        "map move to where the image's intensity crosses between them and their surroundings "
        "(half the contrast to join, a quarter to stay), before each chip takes its pixels' "
        "majority (default true)",
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
    grids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        allow_empty=False,
        max_length=1000,
        help_text="with schema: freeze only the chips on these grids (default: every grid of "
        "the dataset with chips); one request instead of a freeze and a job",
    )
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


class JobWaitQuerySerializer(serializers.Serializer):
    wait = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=MAX_MAP_WAIT,
        default=0.0,
        help_text=f"seconds (at most {MAX_MAP_WAIT:g}) to wait for the job's first map, or its "
        "end, before answering: the page asks this way instead of polling",
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
        extra_kwargs = {
            "timings": {
                "help_text": "the worker's seconds per stage (load, embed, classify, pixels, "
                "exports, save, hand_over, downloads, queue_wait, total), "
                "embeddings_cache: where the embeddings came from {memory, storage, miss}, and "
                "made_ahead: 1 when the first map was made ahead of the Segment click "
                "(after the user's clicks on the grid) and taken by this job"
            }
        }

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
