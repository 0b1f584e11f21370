"""The `chiplab` command line against a live server: login, lists, upload, exit codes."""

import json
import os
import stat
import subprocess
import sys

from catalog.models import Image
from tests.support.services import ROOT


def test_login_stores_the_token_privately(world, server, token_of, chiplab, config_home):
    token = token_of(world.curator)

    run = chiplab("login", "--server", server + "/", "--json", stdin=token + "\n")

    assert run.code == 0, run.stderr
    path = config_home / "chiplab" / "config.json"
    assert run.json() == {"server": server, "username": world.curator.username, "config": str(path)}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert stored == {"servers": {server: {"token": token}}, "default": server}
    assert not list(path.parent.glob(".config.*"))  # no temporary file left
    # later commands use it: the default server, its token
    labs = chiplab("labs", "--json")
    assert labs.code == 0 and [lab["id"] for lab in labs.json()] == [str(world.lab.pk)]


def test_login_refuses_a_wrong_token_and_stores_nothing(server, chiplab, config_home):
    run = chiplab("login", "--server", server, stdin="chl_wrong\n")
    assert run.code == 1
    assert "401 authentication_failed" in run.stderr
    assert not (config_home / "chiplab" / "config.json").exists()
    assert chiplab("login", "--server", server, stdin="").code == 2  # nothing piped


def test_login_has_no_token_option(chiplab):
    run = chiplab("login", "--token", "chl_secret")
    assert run.code == 2 and "unrecognized arguments" in run.stderr


def test_commands_without_a_login_are_a_usage_error(chiplab):
    run = chiplab("labs")
    assert run.code == 2 and "chiplab login" in run.stderr


def test_labs_and_datasets_as_tables_and_json(world, logged_in, chiplab):
    dataset = world.dataset(title="Interfaces 2025")
    logged_in(world.viewer)

    table = chiplab("labs")
    assert table.code == 0
    header, row = table.stdout.splitlines()
    assert header.split() == ["ID", "SLUG", "NAME", "ROLE"]
    assert row.split()[0] == str(world.lab.pk) and row.split()[-1] == "viewer"

    listed = chiplab("datasets", "--json", "--lab", str(world.lab.pk))
    assert listed.code == 0
    assert [(d["id"], d["title"]) for d in listed.json()] == [(str(dataset.pk), "Interfaces 2025")]
    assert "Interfaces 2025" in chiplab("datasets").stdout


def test_api_errors_exit_1_with_the_error_body(world, logged_in, chiplab):
    logged_in(world.outsider)

    run = chiplab("datasets", "--json", "--lab", str(world.lab.pk))

    assert run.code == 1 and run.stdout == ""
    assert run.error() == {"code": "not_found", "message": "Lab not found.", "status": 404}


def test_upload_files_folders_and_globs_skipping_what_is_there(
    world, logged_in, chiplab, micrographs, tmp_path
):
    dataset = world.dataset()
    logged_in(world.curator)
    frames = micrographs(4, "frames")
    (tmp_path / "frames" / "notes.txt").write_text("not a micrograph")  # folders: images only
    (tmp_path / "frames" / ".hidden.png").write_bytes(frames[0].read_bytes())
    extra = micrographs(2, "more", start=10)
    single = micrographs(1, "single", start=20)[0]

    run = chiplab(
        "upload",
        str(tmp_path / "frames"),
        str(tmp_path / "more" / "*.png"),
        str(single),
        "--dataset",
        str(dataset.pk),
        "--json",
    )

    assert run.code == 0, run.stderr
    summary = run.json()
    assert (summary["uploaded"], summary["skipped"], summary["failed"]) == (7, 0, 0)
    assert [f["path"] for f in summary["files"]] == [str(p) for p in [*frames, *extra, single]]
    assert Image.objects.filter(dataset=dataset).count() == 7

    # again, with two new files: only those are sent (an interrupted upload resumes)
    new = micrographs(2, "frames", start=4)
    again = chiplab("upload", str(tmp_path / "frames"), "--dataset", str(dataset.pk), "--json")
    assert again.code == 0, again.stderr
    outcomes = {f["path"]: f["status"] for f in again.json()["files"]}
    assert outcomes == {
        **{str(p): "skipped" for p in frames},
        **{str(p): "uploaded" for p in new},
    }
    skipped = next(f for f in again.json()["files"] if f["path"] == str(frames[0]))
    assert skipped["image"] == str(Image.objects.get(dataset=dataset, sha256=skipped["sha256"]).pk)
    assert Image.objects.filter(dataset=dataset).count() == 9


def test_upload_reports_each_file_and_exits_1_when_one_fails(
    world, logged_in, chiplab, micrographs, tmp_path
):
    dataset = world.dataset()
    logged_in(world.curator)
    good = micrographs(1, "mixed")[0]
    bad = tmp_path / "mixed" / "broken.png"
    bad.write_bytes(b"\x89PNG but not really")

    run = chiplab("upload", str(tmp_path / "mixed"), "--dataset", str(dataset.pk))

    assert run.code == 1
    lines = dict(line.split(None, 1) for line in run.stdout.splitlines())
    assert lines["uploaded"].startswith(str(good))
    assert lines["failed"].startswith(str(bad))
    assert "1 uploaded, 0 skipped, 1 failed of 2 files" in run.stderr


def test_upload_usage_errors(world, logged_in, chiplab, tmp_path):
    dataset = world.dataset()
    logged_in(world.curator)
    assert (
        chiplab("upload", str(tmp_path / "nothing-*.tif"), "--dataset", str(dataset.pk)).code == 2
    )
    assert chiplab("upload", str(tmp_path)).code == 2  # no --dataset


def test_segment_creates_a_job(world, logged_in, chiplab, model_version):
    """`segment` answers with the queued job at once (without --wait)."""
    from labeling.services import (
        class_create,
        grid_create,
        schema_get_or_create_default,
        support_set_freeze,
        votes_cast_many,
    )
    from tests.factories import ReadyImageFactory

    image = ReadyImageFactory(dataset=world.dataset(), uploaded_by=world.curator)
    schema, _ = schema_get_or_create_default(user=world.curator, dataset=image.dataset)
    a = class_create(user=world.curator, schema=schema, name="a", colour="#000000")
    b = class_create(user=world.curator, schema=schema, name="b", colour="#ffffff")
    grid, _ = grid_create(user=world.curator, image=image, chip_size=32)
    votes = [{"row": 0, "col": c, "class": a.pk} for c in range(2)]
    votes += [{"row": 5, "col": c, "class": b.pk} for c in range(2)]
    votes_cast_many(user=world.curator, grid=grid, schema=schema, votes=votes)
    version = support_set_freeze(user=world.curator, schema=schema, rule="single_owner")
    logged_in(world.curator)

    run = chiplab(
        "segment",
        "--images",
        str(image.pk),
        "--support-set",
        str(version.pk),
        "--param",
        "seed=7",
        "--json",
    )

    assert run.code == 0, run.stderr
    job = run.json()
    assert job["status"] == "queued" and job["images"] == [str(image.pk)]
    assert job["params"]["seed"] == 7 and job["model_version"]["id"] == str(model_version.pk)
    # results of a job without results: exit 1, saying so (in CI a real worker may have taken
    # the job by now, and fails it: the factory's image has no file)
    results = chiplab("results", job["id"], "--out", "unused", "--json")
    assert results.code == 1, results.stdout
    assert results.error()["code"] in ("job_queued", "job_running", "job_failed")
    assert job["id"] in results.error()["message"]
    # a support set of another lab: the API's 404
    assert chiplab("segment", "--images", str(image.pk), "--support-set", str(image.pk)).code == 1


def test_python_m_chiplab_client_is_the_cli(config_home):
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
    run = subprocess.run(
        [sys.executable, "-m", "chiplab_client", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0
    for command in ("login", "labs", "datasets", "upload", "segment", "results"):
        assert command in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "chiplab_client", "segment"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
