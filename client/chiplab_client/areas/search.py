"""Search (images and their datasets, with facets) and image annotations (tags, key-values)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypedDict
from urllib.parse import urlencode

from ..operations import operation
from ._base import UNSET, Area, given


class FacetValue(TypedDict, total=False):
    value: str
    count: int
    label: str  # the dataset facet: the dataset's title


class SearchPage(TypedDict, total=False):
    count: int
    next: str | None
    previous: str | None
    results: list[dict[str, Any]]
    #: ``instrument``, ``licence``, ``class_name``, ``tag``, ``dataset``
    facets: dict[str, list[FacetValue]]


class Annotations(TypedDict):
    tags: list[str]
    pairs: list[dict[str, str]]  # [{"key", "value"}] in order


def _query(
    q: str | None,
    *,
    instrument: Iterable[str] = (),
    licence: Iterable[str] = (),
    class_name: Iterable[str] = (),
    tag: Iterable[str] = (),
    kv: Mapping[str, str] | None = None,
    dataset: Iterable[str] = (),
    lab: Iterable[str] = (),
    ranges: Mapping[str, float | dt.date | None],
    facets: bool,
    limit: int | None,
    offset: int | None,
) -> str:
    """The query string: a list is the parameter repeated (values of a facet: any matches)."""
    pairs: list[tuple[str, str]] = [("q", q)] if q else []
    for name, values in (
        ("instrument", instrument),
        ("licence", licence),
        ("class_name", class_name),
        ("tag", tag),
        ("dataset", dataset),
        ("lab", lab),
    ):
        if isinstance(values, str):  # one value given bare
            values = [values]
        pairs += [(name, str(v)) for v in values]
    pairs += [("kv", f"{k}={v}") for k, v in (kv or {}).items()]
    for name, value in ranges.items():
        if value is not None:
            pairs.append((name, value.isoformat() if isinstance(value, dt.date) else str(value)))
    if not facets:
        pairs.append(("facets", "false"))
    pairs += [(k, str(v)) for k, v in (("limit", limit), ("offset", offset)) if v is not None]
    return urlencode(pairs)


class Search(Area):
    @operation("search_images", "GET", "/api/search/")
    def images(
        self,
        q: str | None = None,
        *,
        instrument: Iterable[str] = (),
        licence: Iterable[str] = (),
        class_name: Iterable[str] = (),
        tag: Iterable[str] = (),
        kv: Mapping[str, str] | None = None,
        dataset: Iterable[str] = (),
        lab: Iterable[str] = (),
        voltage_min: float | None = None,
        voltage_max: float | None = None,
        magnification_min: float | None = None,
        magnification_max: float | None = None,
        pixel_size_min: float | None = None,
        pixel_size_max: float | None = None,
        acquired_from: dt.date | None = None,
        acquired_to: dt.date | None = None,
        facets: bool = True,
        limit: int | None = None,
        offset: int | None = None,
    ) -> SearchPage:
        """One page of the images you may see that match every word of ``q`` and every
        filter (several values of one filter: any of them), with facet counts.

        Voltages in kV, pixel sizes in nm; ``kv``: key-value annotations that must all match.
        """
        query = _query(
            q,
            instrument=instrument,
            licence=licence,
            class_name=class_name,
            tag=tag,
            kv=kv,
            dataset=dataset,
            lab=lab,
            ranges={
                "voltage_min": voltage_min,
                "voltage_max": voltage_max,
                "magnification_min": magnification_min,
                "magnification_max": magnification_max,
                "pixel_size_min": pixel_size_min,
                "pixel_size_max": pixel_size_max,
                "acquired_from": acquired_from,
                "acquired_to": acquired_to,
            },
            facets=facets,
            limit=limit,
            offset=offset,
        )
        path = self._path("search_images")
        return self._http.json("GET", f"{path}?{query}" if query else path)

    def all_images(self, q: str | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching image, page after page (the arguments of :meth:`images`)."""
        offset = 0
        while True:
            page = self.images(q, **filters, facets=False, offset=offset)
            yield from page["results"]
            offset += len(page["results"])
            if not page.get("next") or not page["results"]:
                return


class ImageAnnotations(Area):
    @operation("images_annotations_retrieve", "GET", "/api/images/{image_id}/annotations")
    def get(self, image_id: str) -> Annotations:
        """An image's tags and key-value pairs."""
        return self._call("images_annotations_retrieve", image_id=image_id)

    @operation("images_annotations_update", "PUT", "/api/images/{image_id}/annotations")
    def set(
        self,
        image_id: str,
        *,
        tags: Iterable[str] = UNSET,
        pairs: Mapping[str, str] | Iterable[tuple[str, str]] = UNSET,
    ) -> Annotations:
        """Replace an image's tags and/or key-value pairs (one left out stays as it is).

        ``pairs``: a mapping or ``(key, value)`` tuples, kept in order (annotators and up)."""
        if pairs is not UNSET:
            items = pairs.items() if isinstance(pairs, Mapping) else pairs
            pairs = [{"key": k, "value": v} for k, v in items]
        if tags is not UNSET:
            tags = list(tags)
        return self._call(
            "images_annotations_update", image_id=image_id, body=given(tags=tags, pairs=pairs)
        )
