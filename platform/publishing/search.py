"""Full-text and faceted search over the images a user may see, and their datasets.

One read, ``images_search(user=, params=)``: the visible, ready images matching the text and
the filters, and facet counts (instrument, licence, class, tag, dataset) over the same set.
Facets are disjunctive: values of one facet are OR'ed and the facets AND'ed, and each facet's
counts apply every filter but its own, so that its other values stay offered. Everything is
counted inside ``catalog.selectors.images_visible_to``: another lab's private data never
shows, not even as a count.

The text ``q`` is split into words; an image matches when every word is found in its
dataset's title, description, keywords or licence, its file name, its instrument (microscope,
manufacturer, mode, operator, specimen, detector), its tags or key-value pairs, or the class
names of its dataset. With Postgres (services mode) that is full-text search (``simple``
configuration, each word a prefix, ranked); elsewhere (SQLite, embedded mode) each word is a
case-insensitive substring of one of those fields.
"""

import datetime as dt
import re
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from catalog.models import Dataset, ImageKeyValue, ImageStatus, ImageTag
from catalog.selectors import images_visible_to
from labeling.models import ImageClasses, LabelClass

MAX_QUERY_LENGTH = 200
MAX_WORDS = 12
MAX_FILTER_VALUES = 20  # values of one facet filter
FACET_SIZE = 20  # values shown per facet, most frequent first
MAX_PAGE = 100
# instrument keys that hold words (the others are numbers or dates)
TEXT_INSTRUMENT_KEYS = ("microscope", "manufacturer", "mode", "operator", "specimen", "detector")
FACETS = ("instrument", "licence", "class_name", "tag", "dataset")


@dataclass(frozen=True)
class SearchParams:
    """What a search asks for; validated by the API's serializer."""

    q: str = ""
    instrument: list[str] = field(default_factory=list)
    licence: list[str] = field(default_factory=list)
    label_class: list[str] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)
    kv: list[tuple[str, str]] = field(default_factory=list)  # key-value pairs, exact
    dataset: list = field(default_factory=list)
    lab: list = field(default_factory=list)
    voltage_min: float | None = None  # kV
    voltage_max: float | None = None
    magnification_min: float | None = None
    magnification_max: float | None = None
    pixel_size_min: float | None = None  # nm
    pixel_size_max: float | None = None
    acquired_from: dt.date | None = None
    acquired_to: dt.date | None = None  # inclusive


def words(q: str) -> list[str]:
    """The words of a query (runs of letters and digits), as a full-text query takes them;
    the API refuses more than ``MAX_WORDS``."""
    return re.findall(r"[^\W_]+", q)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


# --- text -------------------------------------------------------------------------
def _classes_of_dataset():
    return LabelClass.objects.filter(schema__dataset=OuterRef("dataset"), removed_at=None)


def _own_words():
    """The file name with its punctuation as spaces: the parser keeps "pt_01.tif" one token."""
    return Func(
        F("original_filename"),
        Value(r"[\W_]+"),
        Value(" "),
        Value("g"),
        function="regexp_replace",
        output_field=TextField(),
    )


def dataset_vector():
    """A dataset's words (title, description, keywords, licence), as its GIN index has them."""
    return SearchVector(
        "title", "description", Cast("keywords", TextField()), "licence", config="simple"
    )


def tag_vector():
    return SearchVector("name", config="simple")


def key_value_vector():
    return SearchVector("key", "value", config="simple")


def _text_match_postgres(qs: QuerySet, terms: list[str]) -> QuerySet:
    """Each word a prefix (``titan`` finds Titan) in one of the image's fields. The words are
    letters and digits only, so they cannot be tsquery syntax. Datasets, classes, tags and
    key-value pairs are looked up once per word (uncorrelated; GIN indexes), not per image."""
    own = SearchVector(
        "original_filename",
        _own_words(),
        *(KT(f"instrument__{key}") for key in TEXT_INSTRUMENT_KEYS),
        config="simple",
    )
    qs = qs.alias(own_document=own)
    for term in terms:
        word = SearchQuery(f"{term}:*", search_type="raw", config="simple")
        datasets = Dataset.objects.alias(document=dataset_vector()).filter(document=word)
        classes = LabelClass.objects.filter(removed_at=None).alias(
            document=SearchVector("name", config="simple")
        )
        tags = ImageTag.objects.alias(document=tag_vector()).filter(document=word)
        pairs = ImageKeyValue.objects.alias(document=key_value_vector()).filter(document=word)
        qs = qs.filter(
            Q(own_document=word)
            | Q(dataset_id__in=datasets.values("pk"))
            | Q(dataset_id__in=classes.filter(document=word).values("schema__dataset_id"))
            | Q(pk__in=tags.values("image_id"))
            | Q(pk__in=pairs.values("image_id"))
        )
    return qs


def _rank(terms: list[str]):
    """How well an image's name, microscope and dataset title match all the words."""
    every = SearchQuery(" & ".join(f"{w}:*" for w in terms), search_type="raw", config="simple")
    ranked = SearchVector(
        "original_filename", KT("instrument__microscope"), config="simple", weight="A"
    ) + SearchVector("dataset__title", config="simple", weight="B")
    return SearchRank(ranked, every)


def _text_match_fallback(qs: QuerySet, terms: list[str]) -> QuerySet:
    qs = qs.alias(keywords_text=Cast("dataset__keywords", TextField()))
    own = ["original_filename", "dataset__title", "dataset__description", "keywords_text"]
    own += ["dataset__licence", *(f"instrument__{key}" for key in TEXT_INSTRUMENT_KEYS)]
    for term in terms:
        found = Q()
        for name in own:
            found |= Q(**{f"{name}__icontains": term})
        found |= Exists(ImageTag.objects.filter(image=OuterRef("pk"), name__icontains=term))
        found |= Exists(
            ImageKeyValue.objects.filter(
                Q(key__icontains=term) | Q(value__icontains=term), image=OuterRef("pk")
            )
        )
        found |= Exists(_classes_of_dataset().filter(name__icontains=term))
        qs = qs.filter(found)
    return qs


# --- facet filters ----------------------------------------------------------------------
def _has_class(names: list[str]):
    """Images that have one of the classes ``names``: an active class of one of its dataset's
    schemas that its annotators ticked for it or, where they ticked none, any of them."""
    through = ImageClasses.classes.through
    chosen = through.objects.filter(
        imageclasses__image=OuterRef(OuterRef("pk")), imageclasses__schema=OuterRef("schema")
    )
    return Exists(
        _classes_of_dataset()
        .filter(name__in=names)
        .filter(
            ~Exists(chosen.filter(labelclass__removed_at=None))
            | Exists(chosen.filter(labelclass=OuterRef("pk")))
        )
    )


def _facet_filters(p: SearchParams) -> dict:
    filters = {}
    if p.instrument:
        filters["instrument"] = Q(microscope__in=p.instrument)
    if p.licence:
        filters["licence"] = Q(dataset__licence__in=p.licence)
    if p.label_class:
        filters["class_name"] = Q(_has_class(p.label_class))
    if p.tag:
        filters["tag"] = Q(Exists(ImageTag.objects.filter(image=OuterRef("pk"), name__in=p.tag)))
    if p.dataset:
        filters["dataset"] = Q(dataset_id__in=p.dataset)
    return filters


def _base(user, p: SearchParams) -> QuerySet:
    """Visible ready images matching the text and the filters that are not facets."""
    qs = images_visible_to(user=user).filter(status=ImageStatus.READY)
    # as text: SQLite compares a JSON value with '' as JSON
    qs = qs.alias(microscope=Cast(KT("instrument__microscope"), TextField()))
    if p.lab:
        qs = qs.filter(dataset__lab_id__in=p.lab)
    for key, low, high in (
        ("voltage_kv", p.voltage_min, p.voltage_max),
        ("magnification", p.magnification_min, p.magnification_max),
    ):
        if low is not None:
            qs = qs.filter(**{f"instrument__{key}__gte": low})
        if high is not None:
            qs = qs.filter(**{f"instrument__{key}__lte": high})
    if p.pixel_size_min is not None or p.pixel_size_max is not None:
        qs = qs.filter(pixel_unit="nm")
        if p.pixel_size_min is not None:
            qs = qs.filter(pixel_size__gte=p.pixel_size_min)
        if p.pixel_size_max is not None:
            qs = qs.filter(pixel_size__lte=p.pixel_size_max)
    if p.acquired_from or p.acquired_to:
        # ISO 8601 texts sort as their dates do
        qs = qs.alias(acquired=Cast(KT("instrument__acquired_at"), TextField()))
        if p.acquired_from:
            qs = qs.filter(acquired__gte=p.acquired_from.isoformat())
        if p.acquired_to:
            qs = qs.filter(acquired__lt=(p.acquired_to + dt.timedelta(days=1)).isoformat())
    for pair_key, pair_value in p.kv:
        qs = qs.filter(
            Exists(
                ImageKeyValue.objects.filter(image=OuterRef("pk"), key=pair_key, value=pair_value)
            )
        )
    terms = words(p.q)
    if terms:
        qs = (_text_match_postgres if _postgres() else _text_match_fallback)(qs, terms)
    return qs


def _counts(rows, label=None) -> list[dict]:
    out = []
    for row in rows:
        value = row["value"]
        if value in (None, ""):
            continue
        item = {"value": str(value), "count": row["n"]}
        if label:
            item["label"] = row[label]
        out.append(item)
    return out


def _facet(name: str, qs: QuerySet) -> list[dict]:
    ids = qs.values("pk")
    if name == "instrument":
        rows = (
            qs.exclude(microscope=None)
            .exclude(microscope="")
            .values(value=F("microscope"))
            .annotate(n=Count("pk"))
            .order_by("-n", "value")
        )
    elif name == "licence":
        rows = (
            qs.values(value=F("dataset__licence")).annotate(n=Count("pk")).order_by("-n", "value")
        )
    elif name == "tag":
        rows = (
            ImageTag.objects.filter(image__in=ids)
            .values(value=F("name"))
            .annotate(n=Count("image", distinct=True))
            .order_by("-n", "value")
        )
    elif name == "dataset":
        rows = (
            qs.values(value=F("dataset_id"), title=F("dataset__title"))
            .annotate(n=Count("pk"))
            .order_by("-n", "title")
        )
        return _counts(rows[:FACET_SIZE], label="title")
    else:
        return _class_facet(qs)
    return _counts(rows[:FACET_SIZE])


def _class_facet(qs: QuerySet) -> list[dict]:
    """Images per class name, by ``_has_class``'s rule: the (image, class) pairs of schemas
    where the image has no choice, and those of its choices, counted once per image."""
    through = ImageClasses.classes.through
    active_choice = through.objects.filter(
        labelclass__removed_at=None,
        imageclasses__image=OuterRef("pk"),
        imageclasses__schema=OuterRef("dataset__schemas"),
    )
    unchosen = (
        # one filter() call: its conditions and the values below share one join of the classes
        # (on the images' own query, not an ``IN`` of it: one level for the planner)
        qs.filter(
            ~Exists(active_choice),
            dataset__schemas__classes__isnull=False,
            dataset__schemas__classes__removed_at=None,
        )
        .values(img=F("pk"), cname=F("dataset__schemas__classes__name"))
        .order_by()
    )
    chosen = (
        through.objects.filter(imageclasses__image__in=qs.values("pk"), labelclass__removed_at=None)
        .values(img=F("imageclasses__image_id"), cname=F("labelclass__name"))
        .order_by()
    )
    # two plain (decorrelated) queries joined by a UNION, which drops the pairs found twice;
    # the ORM does not aggregate over a union, hence the one line of SQL around it
    sql_a, params_a = unchosen.query.sql_with_params()
    sql_b, params_b = chosen.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT cname, COUNT(*) FROM ({sql_a} UNION {sql_b}) pairs "
            "GROUP BY cname ORDER BY 2 DESC, 1 LIMIT %s",
            [*params_a, *params_b, FACET_SIZE],
        )
        rows = cursor.fetchall()
    return [{"value": name, "count": n} for name, n in rows]


def images_search(*, user, params: SearchParams, facets: bool = True) -> dict:
    """``{"images": queryset in result order, "facets": {name: [{value, count[, label]}]}}``."""
    base = _base(user, params)
    filters = _facet_filters(params)
    images = base
    for condition in filters.values():
        images = images.filter(condition)
    if words(params.q) and _postgres():
        images = images.annotate(rank=_rank(words(params.q))).order_by(
            "-rank", "dataset__title", "original_filename", "pk"
        )
    else:
        images = images.order_by("dataset__title", "original_filename", "pk")
    images = images.select_related("dataset", "dataset__lab").prefetch_related("tags")
    out = {"images": images, "facets": {}}
    if facets:
        for name in FACETS:
            others = base
            for other, condition in filters.items():
                if other != name:
                    others = others.filter(condition)
            out["facets"][name] = _facet(name, others)
    return out
