"""Labeling: schemas and classes, grids, votes and gold answers, support sets, crowd tasks."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from .._http import FilePart, multipart
from ..operations import OPERATIONS, operation
from ..types import Grid, LabelClass, LabelSchema, Rule, SupportSetVersion
from ._base import UNSET, Area, given, present

Kind = Literal["region", "objects"]


class Schemas(Area):
    """Label schemas (a dataset's set of classes) and their agreement statistics."""

    @operation("datasets_schemas_list", "GET", "/api/datasets/{dataset_id}/schemas/")
    def list(self, dataset_id: str) -> list[LabelSchema]:
        return self._call("datasets_schemas_list", dataset_id=dataset_id)

    @operation("datasets_schemas_create", "POST", "/api/datasets/{dataset_id}/schemas/")
    def create(self, dataset_id: str, name: str | None = None) -> LabelSchema:
        """Without a name: the dataset's default schema (made if missing); with one: a new
        schema (curators)."""
        return self._call("datasets_schemas_create", dataset_id=dataset_id, body=present(name=name))

    @operation("schemas_retrieve", "GET", "/api/schemas/{schema_id}/")
    def get(self, schema_id: str) -> LabelSchema:
        return self._call("schemas_retrieve", schema_id=schema_id)

    @operation("schemas_agreement_retrieve", "GET", "/api/schemas/{schema_id}/agreement")
    def agreement(self, schema_id: str, *, grid: str | None = None) -> dict[str, Any]:
        """Inter-annotator agreement on the schema (of one grid with ``grid``)."""
        return self._call("schemas_agreement_retrieve", schema_id=schema_id, query={"grid": grid})

    @operation("schemas_review_retrieve", "GET", "/api/schemas/{schema_id}/review")
    def review_queue(
        self,
        schema_id: str,
        *,
        grid: str | None = None,
        limit: int | None = None,
        below: float | None = None,
    ) -> dict[str, Any]:
        """Curators: contested chips, most contested first (``{contested, chips}``)."""
        query = {"grid": grid, "limit": limit, "below": below}
        return self._call("schemas_review_retrieve", schema_id=schema_id, query=query)

    @operation("schemas_review_create", "POST", "/api/schemas/{schema_id}/review")
    def review(
        self,
        schema_id: str,
        grid: str,
        row: int,
        col: int,
        action: Literal["accept", "reject"],
        label_class: str,
    ) -> dict[str, Any]:
        """Curators: accept (the chip is ``label_class``) or reject (it is not) a chip."""
        body = {"grid": grid, "row": row, "col": col, "action": action, "class": label_class}
        return self._call("schemas_review_create", schema_id=schema_id, body=body)

    @operation("images_classes_retrieve", "GET", "/api/images/{image_id}/classes")
    def image_classes(self, image_id: str, *, schema: str | None = None) -> dict[str, Any]:
        """The classes of the schema that apply to an image (``{mode, classes}``)."""
        return self._call("images_classes_retrieve", image_id=image_id, query={"schema": schema})

    @operation("images_classes_update", "PUT", "/api/images/{image_id}/classes")
    def set_image_classes(
        self, image_id: str, classes: Iterable[str] | None, *, schema: str | None = None
    ) -> dict[str, Any]:
        """Tick the classes that apply to an image; ``None`` goes back to the default."""
        body = {"classes": None if classes is None else list(classes), **present(schema=schema)}
        return self._call("images_classes_update", image_id=image_id, body=body)


class Classes(Area):
    @operation("schemas_classes_create", "POST", "/api/schemas/{schema_id}/classes/")
    def create(
        self,
        schema_id: str,
        name: str,
        *,
        colour: str | None = None,
        order: int | None = None,
        kind: Kind | None = None,
    ) -> LabelClass:
        """A class (curators); ``kind="objects"`` for particles counted one by one."""
        body = present(name=name, colour=colour, order=order, kind=kind)
        return self._call("schemas_classes_create", schema_id=schema_id, body=body)

    @operation("classes_partial_update", "PATCH", "/api/classes/{class_id}/")
    def update(
        self,
        class_id: str,
        *,
        name: str = UNSET,
        colour: str = UNSET,
        order: int = UNSET,
        kind: Kind = UNSET,
        active: bool = UNSET,
    ) -> LabelClass:
        body = given(name=name, colour=colour, order=order, kind=kind, active=active)
        return self._call("classes_partial_update", class_id=class_id, body=body)

    @operation("classes_destroy", "DELETE", "/api/classes/{class_id}/")
    def delete(self, class_id: str) -> None:
        """Remove a class (its votes are kept; ``update(active=True)`` restores it)."""
        self._call("classes_destroy", class_id=class_id)


class Grids(Area):
    @operation("images_grids_list", "GET", "/api/images/{image_id}/grids/")
    def list(self, image_id: str) -> list[Grid]:
        return self._call("images_grids_list", image_id=image_id)

    @operation("images_grids_create", "POST", "/api/images/{image_id}/grids/")
    def create(
        self, image_id: str, chip_size: int, *, offset_x: int = 0, offset_y: int = 0
    ) -> Grid:
        """A grid of ``chip_size`` px chips; an existing one with these settings is returned."""
        body = {"chip_size": chip_size, "offset_x": offset_x, "offset_y": offset_y}
        return self._call("images_grids_create", image_id=image_id, body=body)

    @operation("grids_retrieve", "GET", "/api/grids/{grid_id}/")
    def get(self, grid_id: str) -> Grid:
        return self._call("grids_retrieve", grid_id=grid_id)

    @operation("grids_support_retrieve", "GET", "/api/grids/{grid_id}/support")
    def support(
        self,
        grid_id: str,
        *,
        schema: str | None = None,
        rule: Rule | None = None,
        owner: str | None = None,
        min_votes: int | None = None,
    ) -> dict[str, Any]:
        """The live (not frozen) support set a consensus rule makes of the votes."""
        query = {"schema": schema, "rule": rule, "owner": owner, "min_votes": min_votes}
        return self._call("grids_support_retrieve", grid_id=grid_id, query=query)

    @operation("grids_carry_create", "POST", "/api/grids/{grid_id}/carry")
    def carry(self, grid_id: str, from_grid: str, *, schema: str | None = None) -> dict[str, Any]:
        """Carry your example clicks of ``from_grid`` (another chip size or offset of the same
        image) onto this grid as your votes; nothing is carried where you labelled already.
        Returns ``{examples, carried, lost, reason, chips}``."""
        body = present(from_grid=from_grid, schema=schema)
        return self._call("grids_carry_create", grid_id=grid_id, body=body)

    @operation("grids_next_chips_retrieve", "GET", "/api/grids/{grid_id}/next-chips")
    def next_chips(
        self, grid_id: str, *, schema: str | None = None, n: int | None = None
    ) -> dict[str, Any]:
        """Chips to label next (from the newest result on the grid), your examples skipped."""
        query = {"schema": schema, "n": n}
        return self._call("grids_next_chips_retrieve", grid_id=grid_id, query=query)

    @operation("grids_import_create", "POST", "/api/grids/{grid_id}/import")
    def import_annotations(
        self,
        grid_id: str,
        file: str | os.PathLike | bytes,
        *,
        classes: Mapping[str, str | None] | None = None,
        schema: str | None = None,
        target: Literal["votes", "gold"] = "votes",
        threshold: float | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        """Import a label mask (PNG/TIFF) or a CSV of chips (row,col,class) into a grid.

        ``classes`` maps mask values (``"1"``) or colours (``"#ff0000"``) to class names or
        ids, None for background; a CSV's class cells are class names unless mapped.
        ``target="gold"`` stores reference answers (curators). A mask's chip gets the class
        covering at least ``threshold`` of it (server default 0.75). All or nothing; returns
        the report: chips per class and chips skipped.
        """
        if isinstance(file, bytes):
            source: Path | bytes = file
            filename = filename or "labels"
        else:
            source = Path(file)
            filename = filename or source.name
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        fields = present(
            classes=dict(classes) if classes is not None else None,
            schema=schema,
            target=target,
            threshold=None if threshold is None else str(threshold),
        )
        ctype, length, chunks = multipart(
            fields, {"file": FilePart(filename, source, content_type)}
        )
        response = self._http.request(
            OPERATIONS["grids_import_create"].method,
            self._path("grids_import_create", grid_id=grid_id),
            body=chunks,
            headers={"Content-Type": ctype, "Content-Length": str(length)},
        )
        return response.json()


class Votes(Area):
    @operation("grids_votes_retrieve", "GET", "/api/grids/{grid_id}/votes/")
    def list(
        self,
        grid_id: str,
        *,
        schema: str | None = None,
        user: Literal["me", "all"] | None = None,
    ) -> dict[str, Any]:
        """Current label per chip: yours (``user="me"``) or everyone's with counts."""
        return self._call(
            "grids_votes_retrieve", grid_id=grid_id, query={"schema": schema, "user": user}
        )

    @operation("grids_votes_create", "POST", "/api/grids/{grid_id}/votes/")
    def cast(
        self,
        grid_id: str,
        votes: Iterable[dict[str, Any]],
        *,
        schema: str | None = None,
    ) -> dict[str, Any]:
        """Cast a batch of votes ``{"row", "col", "class"}`` (class None retracts)."""
        body = {"votes": list(votes), **present(schema=schema)}
        return self._call("grids_votes_create", grid_id=grid_id, body=body)

    @operation("grids_gold_list", "GET", "/api/grids/{grid_id}/gold/")
    def gold(self, grid_id: str, *, schema: str | None = None) -> list[dict[str, Any]]:
        """The reference answers of a grid (curators)."""
        return self._call("grids_gold_list", grid_id=grid_id, query={"schema": schema})

    @operation("grids_gold_create", "POST", "/api/grids/{grid_id}/gold/")
    def set_gold(
        self, grid_id: str, chips: Iterable[dict[str, Any]], *, schema: str | None = None
    ) -> list[dict[str, Any]]:
        """Set reference answers ``{"row", "col", "class"}`` (curators; class None clears)."""
        body = {"chips": list(chips), **present(schema=schema)}
        return self._call("grids_gold_create", grid_id=grid_id, body=body)


class SupportSets(Area):
    """Frozen, numbered support-set versions of a schema."""

    @operation("schemas_versions_list", "GET", "/api/schemas/{schema_id}/versions/")
    def list(self, schema_id: str) -> list[SupportSetVersion]:
        return self._call("schemas_versions_list", schema_id=schema_id)

    @operation("schemas_versions_create", "POST", "/api/schemas/{schema_id}/versions/")
    def freeze(
        self,
        schema_id: str,
        *,
        rule: Rule = "single_owner",
        owner: str | None = None,
        min_votes: int | None = None,
        grids: list[str] | None = None,
        reuse: bool = False,
    ) -> SupportSetVersion:
        """Freeze the votes into the next version; ``reuse`` returns the newest version when
        it already holds exactly this support set."""
        body = present(rule=rule, owner=owner, min_votes=min_votes, grids=grids, reuse=reuse)
        return self._call("schemas_versions_create", schema_id=schema_id, body=body)

    @operation("support_sets_retrieve", "GET", "/api/support-sets/{version_id}/")
    def get(self, version_id: str) -> SupportSetVersion:
        return self._call("support_sets_retrieve", version_id=version_id)


class Crowd(Area):
    @operation("schemas_crowd_task_retrieve", "GET", "/api/schemas/{schema_id}/crowd-task")
    def task(
        self, schema_id: str, *, grid: str | None = None, seed: int | None = None
    ) -> dict[str, Any]:
        """The next micro-task ("select every chip that shows …")."""
        return self._call(
            "schemas_crowd_task_retrieve", schema_id=schema_id, query={"grid": grid, "seed": seed}
        )

    @operation("crowd_tasks_answer_create", "POST", "/api/crowd-tasks/answer")
    def answer(self, task: str, selected: Iterable[tuple[int, int]]) -> dict[str, Any]:
        """Answer a task (its signed ``task`` string) with the [row, col] chips selected."""
        body = {"task": task, "selected": [list(rc) for rc in selected]}
        return self._call("crowd_tasks_answer_create", body=body)
