"""Machine-readable dataset metadata: schema.org ``Dataset`` JSON-LD."""

from django.urls import reverse

from catalog.licences import LICENCES, licence_url
from catalog.links import base_url, persistent_url, version_persistent_url
from catalog.models import Dataset, ImageStatus
from labeling.models import SupportSetVersion


def _creator(creator: dict) -> dict:
    person = {"@type": "Person", "name": creator["name"]}
    if creator.get("orcid"):
        person["identifier"] = f"https://orcid.org/{creator['orcid']}"
    if creator.get("affiliation"):
        person["affiliation"] = {"@type": "Organization", "name": creator["affiliation"]}
    return person


#: what dataset search engines accept as a description (Google: 50 to 5000 characters)
DESCRIPTION_MIN, DESCRIPTION_MAX = 50, 5000


def search_description(text: str, *, title: str, lab: str, licence: str, n_images: int) -> str:
    """A description search engines take: the curator's text, completed with what the record
    is when shorter than 50 characters, cut at a word (with an ellipsis) past 5000."""
    text = (text or "").strip()
    if len(text) < DESCRIPTION_MIN:
        what = (
            f"{title}: {n_images} electron micrograph{'s' if n_images != 1 else ''} published "
            f"by {lab} under {LICENCES.get(licence, licence)}, with their calibration and "
            "instrument metadata."
        )
        text = f"{text} {what}".strip() if text and text != title else what
    if len(text) > DESCRIPTION_MAX:
        cut = text[: DESCRIPTION_MAX - 1].rsplit(" ", 1)[0]
        text = cut + "…"
    return text


def _creators_or_publisher(creators: list[dict], publisher: dict) -> list[dict]:
    """Search engines require a creator: the people named, else the publishing lab."""
    return [_creator(c) for c in creators if (c.get("name") or "").strip()] or [publisher]


def dataset_jsonld(dataset: Dataset, request=None) -> dict:
    base = base_url(request)
    url = persistent_url(dataset, request)
    identifiers = [url, f"urn:uuid:{dataset.pk}"]
    if dataset.doi:
        identifiers.insert(0, f"https://doi.org/{dataset.doi}")
    images = list(dataset.images.filter(status=ImageStatus.READY))
    distribution = [_download(image, base) for image in images]
    modified = max([dataset.modified, *(i.ingested or i.created for i in images)])
    publisher = {"@type": "Organization", "name": dataset.lab.name}
    doc = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": url,
        "url": url,
        "identifier": identifiers,
        "name": dataset.title,
        "description": search_description(
            dataset.description,
            title=dataset.title,
            lab=dataset.lab.name,
            licence=dataset.licence,
            n_images=len(images),
        ),
        "keywords": dataset.keywords,
        "license": licence_url(dataset.licence) or dataset.licence,
        "creator": _creators_or_publisher(dataset.creators, publisher),
        "publisher": publisher,
        "dateCreated": dataset.created.isoformat(),
        "dateModified": modified.isoformat(),
        "isAccessibleForFree": True,
        "measurementTechnique": "Electron microscopy",
        "distribution": distribution,
    }
    if parts := _annotation_parts(dataset, base):
        doc["hasPart"] = parts
    return doc


def _annotation_parts(dataset: Dataset, base: str) -> list[dict]:
    """The dataset's frozen support-set versions: published, citable chip annotations."""
    versions = SupportSetVersion.objects.filter(schema__dataset=dataset).select_related("schema")
    return [
        {
            "@type": "Dataset",
            "@id": f"urn:uuid:{version.pk}",
            "name": f"{version.schema.name} support set v{version.number}",
            "description": f"{len(version.chips)} labelled {version.chip_size} px chips of "
            f"{len(version.classes)} classes ({', '.join(c['name'] for c in version.classes)})"
            f", consensus rule '{version.rule}'",
            "dateCreated": version.created.isoformat(),
            "license": licence_url(dataset.licence) or dataset.licence,
            "distribution": {
                "@type": "DataDownload",
                "contentUrl": base + reverse("support-set-detail", args=[version.pk]),
                "encodingFormat": "application/json",
            },
        }
        for version in versions.order_by("schema__name", "number")
    ]


def _property(name: str, value, unit: str | None = None) -> dict:
    prop = {"@type": "PropertyValue", "propertyID": name, "value": value}
    if unit:
        prop["unitText"] = unit
    return prop


def _download(image, base: str) -> dict:
    """One original file: where to get it, its checksum, size, calibration and instrument."""
    props = [_property("sha256", image.sha256), _property("dtype", image.dtype)]
    if image.frames > 1:
        props.append(_property("frames", image.frames))
    if image.pixel_size:
        props.append(_property("pixel_size", image.pixel_size, image.pixel_unit))
    props += [
        _property(key, value)
        for key, value in sorted((image.instrument or {}).items())
        if isinstance(value, str | int | float) and not isinstance(value, bool)
    ]
    return {
        "@type": "DataDownload",
        "identifier": f"urn:uuid:{image.pk}",
        "name": image.original_filename,
        "contentUrl": base + reverse("image-original", args=[image.pk]),
        "encodingFormat": _mime(image.format),
        "contentSize": f"{image.size_bytes} B",
        "width": {"@type": "QuantitativeValue", "value": image.width, "unitText": "px"},
        "height": {"@type": "QuantitativeValue", "value": image.height, "unitText": "px"},
        "dateCreated": image.created.isoformat(),
        "additionalProperty": props,
    }


_MIME = {
    "tiff": "image/tiff",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "dm3": "application/x-gatan-dm3",
    "dm4": "application/x-gatan-dm4",
}


def _mime(fmt: str) -> str:
    return _MIME.get(fmt, "application/octet-stream")


# --- dataset versions ------------------------------------------------------------------
def version_jsonld(version, request=None) -> dict:
    """schema.org ``Dataset`` of a published version: frozen metadata and files, the RO-Crate
    as its package, and the dataset it is a version of."""
    base = base_url(request)
    url = version_persistent_url(version, request)
    identifiers = [url, f"urn:uuid:{version.pk}"]
    if version.doi:
        identifiers.insert(0, f"https://doi.org/{version.doi}")
    licence = licence_url(version.licence) or version.licence
    manifest = version.manifest
    crate = {
        "@type": "DataDownload",
        "name": "RO-Crate package (zip)",
        "contentUrl": base + reverse("dataset-version-crate", args=[version.pk]),
        "encodingFormat": "application/zip",
    }
    publisher = {"@type": "Organization", "name": manifest["lab"]["name"]}
    doc = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": url,
        "url": url,
        "identifier": identifiers,
        "name": f"{version.title} (version {version.number})",
        "description": search_description(
            version.description,
            title=version.title,
            lab=manifest["lab"]["name"],
            licence=version.licence,
            n_images=len(manifest["images"]),
        ),
        "version": str(version.number),
        "keywords": version.keywords,
        "license": licence,
        "creator": _creators_or_publisher(version.creators, publisher),
        "publisher": publisher,
        "datePublished": version.created.isoformat(),
        "isAccessibleForFree": True,
        "measurementTechnique": "Electron microscopy",
        "isPartOf": {"@type": "Dataset", "@id": persistent_url(version.dataset, request)},
        "distribution": [crate] + [_manifest_download(image, base) for image in manifest["images"]],
    }
    if version.doi:
        doc["sameAs"] = f"https://doi.org/{version.doi}"
    if version.funding:
        doc["funding"] = [_grant(f) for f in version.funding]
    return doc


def _grant(entry: dict) -> dict:
    """A funding reference as a schema.org ``MonetaryGrant``."""
    funder = {"@type": "Organization", "name": entry["funder_name"]}
    if entry.get("funder_identifier"):
        funder["identifier"] = entry["funder_identifier"]
    grant = {"@type": "MonetaryGrant", "funder": funder}
    if entry.get("award_number"):
        grant["identifier"] = entry["award_number"]
    if entry.get("award_title"):
        grant["name"] = entry["award_title"]
    if entry.get("award_uri"):
        grant["url"] = entry["award_uri"]
    return grant


def _manifest_download(image: dict, base: str) -> dict:
    props = [_property("sha256", image["sha256"]), _property("dtype", image["dtype"])]
    if image.get("pixel_size"):
        props.append(_property("pixel_size", image["pixel_size"], image.get("pixel_unit")))
    return {
        "@type": "DataDownload",
        "identifier": f"urn:uuid:{image['id']}",
        "name": image["filename"],
        "contentUrl": base + reverse("image-original", args=[image["id"]]),
        "encodingFormat": image["encoding_format"],
        "contentSize": f"{image['size']} B",
        "additionalProperty": props,
    }
