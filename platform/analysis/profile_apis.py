"""A result's layer profile across a direction the user chooses (the stored profiles run
down the rows and across the columns only): class fractions per band and the interfaces, in
nm when the image is calibrated."""

import io

import numpy as np
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from common import storage
from common.apis import valid
from common.errors import NotFound
from workers.fewshot import profiles

from . import selectors
from .exports import UNLABELLED


class DirectionQuerySerializer(serializers.Serializer):
    angle = serializers.FloatField(
        min_value=-360,
        max_value=360,
        help_text="degrees anticlockwise from the image's x axis as seen on screen "
        "(0: left to right, -90: top to bottom)",
    )
    band = serializers.IntegerField(
        required=False, min_value=1, max_value=profiles.MAX_BAND, help_text="px per band"
    )


class InterfaceSerializer(serializers.Serializer):
    between = serializers.ListField(child=serializers.CharField(), help_text="class names")
    position_px = serializers.FloatField()
    width_px = serializers.FloatField(allow_null=True, help_text="10-90 % transition width")
    position = serializers.FloatField(required=False, help_text="in `unit` (calibrated)")
    width = serializers.FloatField(required=False, allow_null=True)
    unit = serializers.CharField(required=False)


class DirectionProfileSerializer(serializers.Serializer):
    angle = serializers.FloatField()
    band_px = serializers.IntegerField()
    classes = serializers.ListField(child=serializers.CharField())
    positions_px = serializers.ListField(child=serializers.FloatField())
    positions = serializers.ListField(child=serializers.FloatField(), required=False)
    unit = serializers.CharField(required=False)
    fractions = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="per band, per class (null: no covered pixel in the band)",
    )
    interfaces = InterfaceSerializer(many=True)


def direction_profile(*, result, angle: float, band: int | None) -> dict:
    """The profile of ``result``'s pixel map (its mask.png) across ``angle``; the band is
    about 1/256 of the map's extent along the direction unless given."""
    key = (result.artefacts or {}).get("mask.png")
    if not key:
        raise NotFound("This result has no pixel map to profile.")
    from PIL import Image  # Pillow: only profiles decode the pixel map

    with storage.open_(key) as fh, Image.open(io.BytesIO(fh.read())) as img:
        mask = np.asarray(img).astype(np.int16)
    mask[mask == UNLABELLED] = -1
    classes = [c.get("name", str(i)) for i, c in enumerate(result.classes)]
    if band is None:
        band = max(1, -(-max(mask.shape) // 256))
    prof = profiles.direction_profile(mask, len(classes), angle=angle, band=band)
    image = result.image
    calibration = {"pixel_size": image.pixel_size, "pixel_unit": image.pixel_unit or None}
    found = profiles.interfaces(prof, **calibration)
    doc = prof.to_dict(**calibration)
    doc.pop("axis")
    for item in found:
        item["between"] = [classes[k] for k in item["between"]]
    return {"angle": float(angle), "classes": classes, **doc, "interfaces": found}


class ResultProfileApi(APIView):
    @extend_schema(
        parameters=[DirectionQuerySerializer],
        responses=DirectionProfileSerializer,
        description="Class fractions of the result's pixel map in bands across a chosen "
        "direction, and the interfaces where the dominant class changes (positions along "
        "the direction from the first corner it meets; in the image's unit when calibrated). "
        "404 when the result has no pixel map.",
    )
    def get(self, request, result_id):
        query = valid(DirectionQuerySerializer, request.query_params)
        result = selectors.result_get(user=request.user, result_id=result_id)
        doc = direction_profile(result=result, angle=query["angle"], band=query.get("band"))
        return Response(DirectionProfileSerializer(doc).data)
