"""The folder pipeline never lies and never loses: colliding names, reruns after a failed or torn
write, the user's files, bad images, subfolders, CSV formulas, Ctrl-C, read-only and full disks.

Every hostile input is built by the test. Read-only targets are tested in a subprocess without
root's capabilities (``setpriv``), full disks on a tiny tmpfs in a private mount namespace
(``unshare -rm``); each is skipped with the reason where the machine cannot do it.
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_images import png_header_only
from helpers_sandbox import DROP_CAPS, full_disk, read_only_dir

from utils import pipeline
from utils.data import sample_image_path

ROOT = Path(__file__).resolve().parent.parent
FAST = {"methods": "grad_cam", "metrics": False, "progress": False, "log": None}
SEEDED = {"methods": "smoothgrad", "metrics": False, "progress": False, "log": None,
          "options": {"smoothgrad": {"num_samples": 2}}}


def _photos(folder: Path, names: dict[str, str]) -> Path:
    """``folder`` holding copies of bundled photos: ``{file name: bundled photo}``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, photo in names.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_image_path(photo), folder / name)
    return folder


def _by_file(rows):
    return {r["file"]: r for r in rows}


def _leftover_tmp(out: Path) -> list[str]:
    return [p.name for p in out.rglob(".tmp-*")]


# --------------------------------------------------------------------------- names
def test_output_names_are_readable_when_plain_and_hashed_otherwise():
    assert pipeline.output_name("chelsea.png") == "chelsea_png"
    names = {n: pipeline.output_name(n) for n in ("cat 1.png", "cat+1.png", "cat_1.png", "Cat_1.png", "sub/cat_1.png",
                                                   "a.b.png", "x" * 100 + ".png")}
    assert names["cat_1.png"] == "cat_1_png"
    assert len({v.casefold() for v in names.values()}) == len(names), names
    for name, folder in names.items():
        assert folder == pipeline.output_name(name), "stable"
        assert len(folder) <= 93 and all(c.isalnum() or c in "-_" for c in folder), folder


def test_three_photos_whose_names_used_to_collide_keep_their_own_results(tmp_path):
    photos = _photos(tmp_path / "in", {"cat 1.png": "chelsea", "cat+1.png": "coffee", "cat_1.png": "rocket"})
    rows = _by_file(pipeline.explain_folder(photos, tmp_path / "out", **FAST))
    assert {r["status"] for r in rows.values()} == {"done"}
    assert len({r["folder"] for r in rows.values()}) == 3
    assert rows["cat+1.png"]["top1"] == "espresso" and "cat" in rows["cat 1.png"]["top1"]
    again = _by_file(pipeline.explain_folder(photos, tmp_path / "out", **FAST))
    assert {r["status"] for r in again.values()} == {"cached"}
    assert {f: r["top1"] for f, r in again.items()} == {f: r["top1"] for f, r in rows.items()}


# --------------------------------------------------------------------------- cache that never lies
def test_a_rerun_after_an_interrupted_run_with_another_seed_serves_the_seed_asked_for(tmp_path, monkeypatch):
    photos = _photos(tmp_path / "in", {"coffee.png": "coffee"})
    out = tmp_path / "out"
    pipeline.explain_folder(photos, out, seed=0, **SEEDED)
    seed0 = np.load(out / "coffee_png" / "smoothgrad.npy")
    real_save_png = pipeline._save_png

    def dies_after_the_map(path, array):  # seed 1's .npy is on disk when the run stops
        if path.name == "smoothgrad.png":
            raise KeyboardInterrupt
        return real_save_png(path, array)

    monkeypatch.setattr(pipeline, "_save_png", dies_after_the_map)
    with pytest.raises(pipeline.PipelineInterrupted, match="run the same command again to resume"):
        pipeline.explain_folder(photos, out, seed=1, **SEEDED)
    assert not np.array_equal(np.load(out / "coffee_png" / "smoothgrad.npy"), seed0)
    assert not (out / "summary.csv").exists(), "an interrupted run has no summary"
    assert "has not finished" in (out / "index.html").read_text()
    monkeypatch.setattr(pipeline, "_save_png", real_save_png)
    rows = pipeline.explain_folder(photos, out, seed=0, **SEEDED)
    assert rows[0]["status"] == "done", "seed 1's map must not be served as seed 0's"
    np.testing.assert_array_equal(np.load(out / "coffee_png" / "smoothgrad.npy"), seed0)
    assert pipeline.explain_folder(photos, out, seed=0, **SEEDED)[0]["status"] == "cached"
    assert not _leftover_tmp(out)


def test_a_write_that_fails_half_way_leaves_no_torn_file_and_is_redone(tmp_path, monkeypatch):
    photos = _photos(tmp_path / "in", {"coffee.png": "coffee"})
    out = tmp_path / "out"
    real_save = np.save

    def torn(handle, array):
        handle.write(b"\x93NUMPY half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", torn)
    with pytest.raises(pipeline.PipelineError, match="no space left"):
        pipeline.explain_folder(photos, out, **FAST)
    assert not (out / "coffee_png" / "grad_cam.npy").exists() and not _leftover_tmp(out)
    monkeypatch.setattr(np, "save", real_save)
    rows = pipeline.explain_folder(photos, out, **FAST)
    assert rows[0]["status"] == "done" and np.load(out / "coffee_png" / "grad_cam.npy").shape == (224, 224)


@pytest.mark.parametrize("damage", ["truncate-npy", "delete-png", "garbage-record", "edit-input"])
def test_damaged_or_changed_results_are_recomputed_not_served(tmp_path, damage):
    photos = _photos(tmp_path / "in", {"photo.png": "coffee"})
    out = tmp_path / "out"
    first = pipeline.explain_folder(photos, out, **FAST)[0]
    folder = out / "photo_png"
    if damage == "truncate-npy":
        (folder / "grad_cam.npy").write_bytes((folder / "grad_cam.npy").read_bytes()[:100])
    elif damage == "delete-png":
        (folder / "grad_cam.png").unlink()
    elif damage == "garbage-record":
        (folder / "record.json").write_text("{not json")
    else:
        shutil.copy(sample_image_path("chelsea"), photos / "photo.png")  # same name, another photo
    row = pipeline.explain_folder(photos, out, **FAST)[0]
    assert row["status"] == "done"
    assert np.load(folder / "grad_cam.npy").shape == (224, 224)
    if damage == "edit-input":
        assert first["top1"] == "espresso" and "cat" in row["top1"]


def test_changing_an_option_or_the_seed_recomputes_only_what_depends_on_it(tmp_path):
    photos = _photos(tmp_path / "in", {"coffee.png": "coffee"})
    out = tmp_path / "out"
    both = dict(SEEDED, methods="grad_cam,smoothgrad")
    pipeline.explain_folder(photos, out, **both)
    stamp = (out / "coffee_png" / "grad_cam.npy").stat().st_mtime_ns
    assert pipeline.explain_folder(photos, out, seed=3, **both)[0]["status"] == "done"
    assert (out / "coffee_png" / "grad_cam.npy").stat().st_mtime_ns == stamp, "grad_cam takes no seed"
    record = json.loads((out / "coffee_png" / "record.json").read_text())
    assert record["methods"]["smoothgrad"]["options"] == {"num_samples": 2, "seed": 3}
    assert pipeline.explain_folder(photos, out, seed=3, **both)[0]["status"] == "cached"


# --------------------------------------------------------------------------- the user's files
def test_out_equal_to_or_containing_the_input_folder_is_refused(tmp_path):
    photos = _photos(tmp_path / "in", {"coffee.png": "coffee"})
    (photos / "summary.csv").write_text("my own table\n")
    for out in (photos, tmp_path):
        with pytest.raises(pipeline.PipelineError, match="is \\(or contains\\) the input folder"):
            pipeline.explain_folder(photos, out, **FAST)
    assert (photos / "summary.csv").read_text() == "my own table\n"
    assert sorted(p.name for p in photos.iterdir()) == ["coffee.png", "summary.csv"]


def test_out_holding_files_the_pipeline_did_not_write_is_refused(tmp_path):
    photos = _photos(tmp_path / "in", {"coffee.png": "coffee"})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("<h1>my home page</h1>")
    with pytest.raises(pipeline.PipelineError, match="did not write.*'index.html'"):
        pipeline.explain_folder(photos, mine, **FAST)
    assert (mine / "index.html").read_text() == "<h1>my home page</h1>" and len(list(mine.iterdir())) == 1


def test_out_inside_the_input_folder_is_not_read_as_input(tmp_path):
    photos = _photos(tmp_path / "in", {"coffee.png": "coffee"})
    for _ in range(2):
        rows = pipeline.explain_folder(photos, photos / "explanations", recursive=True, **FAST)
        assert [r["file"] for r in rows] == ["coffee.png"]


def test_a_user_file_inside_an_image_folder_is_left_alone(tmp_path):
    photos = _photos(tmp_path / "in", {"coffee.png": "coffee", "chelsea.png": "chelsea"})
    out = tmp_path / "out"
    pipeline.explain_folder(photos, out, **FAST)
    (out / "coffee_png" / "notes.txt").write_text("my notes")
    rows = _by_file(pipeline.explain_folder(photos, out, methods="saliency", metrics=False, progress=False, log=None))
    assert rows["coffee.png"]["status"] == "skipped" and "did not write (notes.txt)" in rows["coffee.png"]["reason"]
    assert rows["chelsea.png"]["status"] == "done"
    assert (out / "coffee_png" / "notes.txt").read_text() == "my notes"


def test_out_an_existing_file_is_one_line(tmp_path, capsys):
    photos = _photos(tmp_path / "in", {"coffee.png": "coffee"})
    (tmp_path / "out.txt").write_text("mine")
    assert pipeline.main([str(photos), "--out", str(tmp_path / "out.txt"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err
    assert (tmp_path / "out.txt").read_text() == "mine"


# --------------------------------------------------------------------------- bad images, subfolders, CSV
def test_a_decompression_bomb_and_a_damaged_image_are_skipped_and_the_run_finishes(tmp_path):
    photos = _photos(tmp_path / "in", {"a_good.png": "coffee", "z_good.png": "chelsea"})
    png_header_only(photos / "bomb.png", 20000, 20000)  # a few hundred bytes, 400 megapixels
    png_header_only(photos / "strip.png", 1, 3000)
    (photos / "damaged.jpg").write_bytes(sample_image_path("rocket").read_bytes()[:2000])
    (photos / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    rows = _by_file(pipeline.explain_folder(photos, tmp_path / "out", **FAST))
    assert rows["a_good.png"]["status"] == rows["z_good.png"]["status"] == "done"
    reasons = {f: r["reason"] for f, r in rows.items() if r["status"] == "skipped"}
    assert "400 megapixels" in reasons["bomb.png"] and "20 times" in reasons["strip.png"]
    assert "truncated" in reasons["damaged.jpg"]
    assert "link to nothing" in reasons["dangling.png"]
    page = (tmp_path / "out" / "index.html").read_text()
    assert "bomb.png" in page and "z_good_png/grad_cam.png" in page
    assert str(tmp_path) not in page and str(tmp_path) not in "".join(reasons.values())


def test_subfolders_are_listed_as_skipped_or_processed_with_recursive(tmp_path):
    photos = _photos(tmp_path / "in", {"top.png": "coffee", "sub/deep.png": "chelsea", "sub/more/deeper.png": "rocket"})
    rows = _by_file(pipeline.explain_folder(photos, tmp_path / "flat", **FAST))
    assert rows["sub/"]["status"] == "skipped" and "--recursive" in rows["sub/"]["reason"]
    assert set(rows) == {"top.png", "sub/"}
    messages = []
    pipeline.explain_folder(photos, tmp_path / "flat", methods="grad_cam", metrics=False, progress=False,
                            log=messages.append)
    assert "1 subfolder(s) not processed (pass --recursive" in messages[-1]
    deep = _by_file(pipeline.explain_folder(photos, tmp_path / "deep", recursive=True, **FAST))
    assert {f: r["status"] for f, r in deep.items()} == {"top.png": "done", "sub/deep.png": "done",
                                                         "sub/more/deeper.png": "done"}
    assert deep["sub/deep.png"]["folder"].startswith("sub_deep_png-")


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    names = ["=HYPERLINK(1).png", "+1.png", "-1.png", "@SUM(A1).png"]
    photos = _photos(tmp_path / "in", {n: "coffee" for n in names})
    rows = pipeline.explain_folder(photos, tmp_path / "out", **FAST)
    assert sorted(r["file"] for r in rows) == sorted(names), "the API keeps the real names"
    with open(tmp_path / "out" / "summary.csv", newline="") as handle:
        cells = [r["file"] for r in csv.DictReader(handle)]
    assert sorted(cells) == sorted("'" + n for n in names)
    assert pipeline.csv_cell(-0.5) == -0.5 and pipeline.csv_cell("cat") == "cat"


# --------------------------------------------------------------------------- the command line
def test_ctrl_c_stops_with_one_line_saying_how_to_resume(tmp_path, monkeypatch, capsys):
    photos = _photos(tmp_path / "in", {"a.png": "coffee", "b.png": "chelsea"})
    out = tmp_path / "out"
    real = pipeline._process_file

    def interrupt_on_b(path, rel, run):
        if rel == "b.png":
            raise KeyboardInterrupt
        return real(path, rel, run)

    monkeypatch.setattr(pipeline, "_process_file", interrupt_on_b)
    args = [str(photos), "--out", str(out), "--no-progress", "--no-metrics"]
    assert pipeline.main(args) == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == ["interrupted after 1 of 2 file(s); run the same command again to resume "
                     "(finished images are reused, not redone)."]
    assert not (out / "summary.csv").exists()
    monkeypatch.setattr(pipeline, "_process_file", real)
    assert pipeline.main(args) == 0
    with open(out / "summary.csv") as handle:
        assert {r["file"]: r["status"] for r in csv.DictReader(handle)} == {"a.png": "cached", "b.png": "done"}


@pytest.mark.parametrize("option, message", [
    ("grad_cam.num_samples=5", "grad_cam does not take the option 'num_samples'; the options it takes: layer, "
                               "upsample, output."),
    ("saliency.steps=5", "saliency does not take the option 'steps'; the options it takes: output."),
    ("lime.num_samples=5", "'lime' is not among the methods run (grad_cam)"),
    ("grad_cam.logit=true", "grad_cam does not take the option 'logit'"),
    ("lime.segments=0", "lime does not take the option 'segments'"),  # per image, not per folder
])
def test_an_option_the_method_does_not_take_is_one_line_listing_what_it_takes(tmp_path, capsys, option, message):
    photos = _photos(tmp_path / "in", {"a.png": "coffee"})
    methods = option.split(".")[0] if option.startswith(("saliency", "lime.segments")) else "grad_cam"
    code = pipeline.main([str(photos), "--out", str(tmp_path / "out"), "--methods", methods, "--option", option,
                          "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_a_bad_option_value_fails_that_image_in_one_line_and_keeps_the_rest(tmp_path, capsys):
    photos = _photos(tmp_path / "in", {"a.png": "coffee"})
    code = pipeline.main([str(photos), "--out", str(tmp_path / "out"), "--methods", "grad_cam,smoothgrad",
                          "--option", "smoothgrad.num_samples=2.5", "--no-progress", "--no-metrics"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(err) == 1 and "a.png: smoothgrad: " in err[0], err
    assert np.load(tmp_path / "out" / "a_png" / "grad_cam.npy").shape == (224, 224)


def _cli(prefix: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(prefix + [sys.executable, "-m", "utils.pipeline", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_unwritable_out_is_one_line(tmp_path):
    photos = _photos(tmp_path / "in", {"a.png": "coffee"})
    read_only = read_only_dir(tmp_path)
    try:
        result = _cli(DROP_CAPS, str(photos), "--out", str(read_only / "out"), "--no-progress")
    finally:
        read_only.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "permission denied or read-only" in result.stderr, result.stderr


def test_a_full_disk_is_one_line_and_nothing_is_reported_done(tmp_path):
    photos = _photos(tmp_path / "in", {"a.png": "coffee"})
    disk = tmp_path / "disk"
    result = _cli(full_disk(disk), str(photos), "--out", str(disk / "out"), "--no-progress", "--no-metrics")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "no space left on the device" in result.stderr, result.stderr
