"""The shapes of the API's main answers, for editors and type checkers.

They describe the fields most scripts read (the OpenAPI schema at ``/api/schema/`` has all of
them); answers are plain dicts and may carry more.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Role = Literal["viewer", "annotator", "curator", "owner"]
Rule = Literal["single_owner", "majority", "curator"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ImageStatus = Literal["pending", "ready", "failed"]
Visibility = Literal["private", "lab", "public"]
Alias = Literal["champion", "challenger"]
TokenScope = Literal["read", "write", "tokens"]


class Me(TypedDict, total=False):
    id: str
    username: str
    email: str
    first_name: str
    last_name: str
    orcid: str


class Token(TypedDict, total=False):
    id: str
    name: str
    prefix: str
    created: str
    last_used: str | None
    expires_at: str | None  # None: a token made before expiry existed (never expires)
    scopes: list[TokenScope]
    key: str  # only in the answer that creates it


class Lab(TypedDict, total=False):
    id: str
    slug: str
    name: str
    description: str
    created: str
    role: Role


class Membership(TypedDict, total=False):
    user: dict[str, Any]
    role: Role
    created: str


class Invitation(TypedDict, total=False):
    id: str
    email: str
    role: Role
    created: str
    expires_at: str
    state: Literal["pending", "accepted", "revoked", "expired"]
    invited_by: dict[str, Any]


class InvitationPreview(TypedDict, total=False):
    lab_name: str
    role: Role
    email: str
    expires_at: str
    invited_by: str


class InvitationAccepted(TypedDict, total=False):
    lab: str
    role: Role
    account_created: bool
    user: Me


class Dataset(TypedDict, total=False):
    id: str
    lab: str
    lab_name: str
    title: str
    description: str
    keywords: list[str]
    licence: str
    visibility: Visibility
    creators: list[dict[str, str]]
    doi: str
    funding: list[dict[str, str]]
    created: str
    modified: str
    image_count: int
    persistent_url: str


class Image(TypedDict, total=False):
    id: str
    dataset: str
    original_filename: str
    size_bytes: int
    sha256: str
    format: str
    width: int
    height: int
    frames: int
    dtype: str
    pixel_size: float | None
    pixel_unit: str
    calibration: dict[str, Any]
    instrument: dict[str, Any]
    status: ImageStatus
    error: str
    created: str
    links: dict[str, str]


class LabelClass(TypedDict, total=False):
    id: str
    schema: str
    name: str
    colour: str
    kind: Literal["region", "objects"]
    order: int
    active: bool


class LabelSchema(TypedDict, total=False):
    id: str
    dataset: str
    name: str
    is_default: bool
    classes: list[LabelClass]


class Grid(TypedDict, total=False):
    id: str
    image: str
    chip_size: int
    offset_x: int
    offset_y: int
    rows: int
    cols: int
    margins: dict[str, int]


class SupportSetVersion(TypedDict, total=False):
    id: str
    schema: str
    number: int
    rule: Rule
    chips: list[dict[str, Any]]
    classes: list[dict[str, Any]]
    chip_size: int
    contributors: list[dict[str, Any]]


class Result(TypedDict, total=False):
    id: str
    job: str
    image: str
    frame: int
    grid: str
    rows: int
    cols: int
    classes: list[dict[str, Any]]
    counts: list[int]
    fractions: list[float]
    fraction_std: list[float]
    areas: list[float] | None
    area_unit: str
    mean_confidence: float
    links: dict[str, str]  # "self" and one per export kind the result has


class ModelVersion(TypedDict, total=False):
    id: str
    name: str
    version: int
    encoder_kind: str
    source: str
    lab: str | None
    visibility: str
    aliases: list[str]
    metrics: dict[str, Any]
    card: dict[str, Any]


class ModelSummary(TypedDict, total=False):
    name: str
    lab: str | None
    encoder_kind: str
    visibility: str
    aliases: dict[str, int]
    latest_version: int
    versions: int
