"""The load benchmark's world: a lab with annotators who each have their own API token, a
dataset with one ready image (a row, no stored file), the default schema and one grid.

Built through the apps' services (the same rules as the API), straight on the database the
server under test uses, so that the benchmark can also recompute what it expects in SQL.
"""

import uuid
from dataclasses import dataclass, field


def django_setup() -> None:
    """Configure Django for a script run from the repository root (as ``manage.py`` does)."""
    import os
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in (str(root), str(root / "platform")):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


@dataclass
class World:
    lab_id: str
    grid_id: str
    schema_id: str
    rows: int
    cols: int
    classes: list[str]
    owner_token: str = field(repr=False)  # the lab owner's (reads everyone's votes)
    tokens: list[str] = field(repr=False)  # one per annotator, in order
    user_ids: list[str] = field(repr=False)


def build_world(*, annotators: int = 100, size: int = 1024, chip: int = 64, classes: int = 3):
    """A fresh lab (unique name) with ``annotators`` annotators, each with a token."""
    from accounts import services as accounts
    from accounts.models import Membership, Role, User
    from catalog import services as catalog
    from catalog.models import Image, ImageStatus
    from labeling import services as labeling

    tag = uuid.uuid4().hex[:10]
    owner = User.objects.create_user(username=f"load-{tag}-owner", password=None)
    lab = accounts.lab_create(user=owner, name=f"load {tag}")
    dataset = catalog.dataset_create(user=owner, lab=lab, title=f"Load benchmark {tag}")
    image = Image.objects.create(
        dataset=dataset,
        original_filename="load.tif",
        original_key=f"labs/{lab.pk}/load/{tag}.tif",
        size_bytes=size * size,
        sha256=uuid.uuid4().hex * 2,
        format="tiff",
        width=size,
        height=size,
        dtype="uint8",
        status=ImageStatus.READY,
        uploaded_by=owner,
    )
    schema, _ = labeling.schema_get_or_create_default(user=owner, dataset=dataset)
    names = [f"class{i}" for i in range(classes)]
    label_classes = [labeling.class_create(user=owner, schema=schema, name=n) for n in names]
    grid, _ = labeling.grid_create(user=owner, image=image, chip_size=chip)
    users = User.objects.bulk_create(
        [User(username=f"load-{tag}-a{i:03d}") for i in range(annotators)]
    )
    Membership.objects.bulk_create(
        [Membership(user=u, lab=lab, role=Role.ANNOTATOR) for u in users]
    )
    tokens = [accounts.token_create(user=u, name="load")[1] for u in users]
    return World(
        lab_id=str(lab.pk),
        grid_id=str(grid.pk),
        schema_id=str(schema.pk),
        rows=grid.rows,
        cols=grid.cols,
        classes=[str(c.pk) for c in label_classes],
        owner_token=accounts.token_create(user=owner, name="load")[1],
        tokens=tokens,
        user_ids=[str(u.pk) for u in users],
    )
