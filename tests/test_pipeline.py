"""The folder pipeline (utils.pipeline): end to end on a tiny folder with a broken file, re-runs, CLI errors."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from utils import pipeline
from utils.data import sample_image_path

ROOT = Path(__file__).resolve().parent.parent
METHODS = "grad_cam,occlusion"
OPTIONS = {"occlusion": {"window": 56, "stride": 56}}  # 16 evaluations: fast


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    src = tmp_path_factory.mktemp("photos")
    shutil.copy(sample_image_path("chelsea"), src / "chelsea.png")
    shutil.copy(sample_image_path("coffee"), src / "coffee.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff this is not really a jpeg")
    (src / "notes.txt").write_text("not an image")
    return src


@pytest.fixture(scope="module")
def first_run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    messages = []
    rows = pipeline.explain_folder(folder, out, methods=METHODS, options=OPTIONS, progress=False,
                                   log=messages.append)
    return out, rows, messages


def test_every_file_gets_a_row_and_bad_files_are_skipped_with_a_reason(first_run):
    out, rows, messages = first_run
    status = {r["file"]: r["status"] for r in rows}
    assert status == {"broken.jpg": "skipped", "chelsea.png": "done", "coffee.png": "done", "notes.txt": "skipped"}
    reasons = {r["file"]: r["reason"] for r in rows}
    assert "not an image" in reasons["notes.txt"]
    assert "broken.jpg" in reasons["broken.jpg"]
    assert any("skipped broken.jpg" in m for m in messages)


def test_predictions_and_files_on_disk(first_run):
    out, rows, _ = first_run
    by_file = {r["file"]: r for r in rows}
    assert by_file["coffee.png"]["top1"] == "espresso" and by_file["coffee.png"]["top1_prob"] > 0.5
    assert "cat" in by_file["chelsea.png"]["top1"]
    for name in ("chelsea_png", "coffee_png"):
        for method in ("grad_cam", "occlusion"):
            saliency = np.load(out / name / f"{method}.npy")
            assert saliency.shape == (224, 224) and np.isfinite(saliency).all() and saliency.std() > 0
            assert (out / name / f"{method}.png").stat().st_size > 1000
        assert (out / name / "input.png").exists()
    assert by_file["coffee.png"]["grad_cam_seconds"] > 0
    # metrics.deletion_insertion at the pipeline's coarse steps: on the espresso photo (0.95) removing what either
    # map ranks first lowers the score faster than adding it back raises it (benchmark: 0.17 / 0.44 for Grad-CAM)
    coffee = by_file["coffee.png"]
    assert coffee["grad_cam_deletion_auc"] < coffee["grad_cam_insertion_auc"] - 0.1, coffee
    assert coffee["occlusion_deletion_auc"] < coffee["occlusion_insertion_auc"] - 0.1, coffee


def test_csv_and_html_list_all_files_with_relative_links(first_run):
    out, rows, _ = first_run
    with open(out / "summary.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [r["file"] for r in table] == ["broken.jpg", "chelsea.png", "coffee.png", "notes.txt"]
    assert {"top1", "top5_prob", "grad_cam_seconds", "occlusion_seconds"} <= set(table[0])
    page = (out / "index.html").read_text()
    assert 'src="chelsea_png/grad_cam.png"' in page and 'src="coffee_png/occlusion.png"' in page
    assert str(out) not in page  # relative links only: the folder can be moved or zipped
    assert "broken.jpg" in page and "notes.txt" in page


def test_second_run_skips_finished_images_and_a_new_method_runs_only_that(folder, first_run):
    out, rows, _ = first_run
    stamp = (out / "coffee_png" / "grad_cam.npy").stat().st_mtime_ns
    messages = []
    again = pipeline.explain_folder(folder, out, methods=METHODS, options=OPTIONS, progress=False,
                                    log=messages.append)
    assert [r["status"] for r in again if r["file"].endswith(".png")] == ["cached", "cached"]
    assert any("2 already done in an earlier run" in m for m in messages)
    assert (out / "coffee_png" / "grad_cam.npy").stat().st_mtime_ns == stamp
    more = pipeline.explain_folder(folder, out, methods="grad_cam,saliency", progress=False, log=None)
    assert [r["status"] for r in more if r["file"].endswith(".png")] == ["done", "done"]
    assert (out / "coffee_png" / "grad_cam.npy").stat().st_mtime_ns == stamp  # reused, not recomputed
    assert (out / "coffee_png" / "saliency.npy").exists()


def test_same_settings_give_the_same_maps(folder, first_run, tmp_path):
    out, _, _ = first_run
    pipeline.explain_folder(folder, tmp_path, methods="occlusion", options=OPTIONS, progress=False, log=None)
    np.testing.assert_allclose(np.load(tmp_path / "chelsea_png" / "occlusion.npy"),
                               np.load(out / "chelsea_png" / "occlusion.npy"), rtol=1e-4, atol=1e-5)


def test_api_errors_are_value_errors(folder, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        pipeline.explain_folder(tmp_path / "nope", tmp_path / "out", log=None)
    with pytest.raises(ValueError, match="Unknown method"):
        pipeline.explain_folder(folder, tmp_path / "out", methods="grad_cam,magic", log=None)
    with pytest.raises(ValueError, match="top1"):
        pipeline.parse_target("cat")
    with pytest.raises(ValueError, match="METHOD.NAME=VALUE"):
        pipeline._parse_options(["lime=3"])
    assert pipeline._parse_options(["lime.num_samples=300"]) == {"lime": {"num_samples": 300}}


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "does not exist"),
    (["{empty}"], "is empty"),
    (["{folder}", "--methods", "grad_cam,magic"], "Unknown method"),
    (["{folder}", "--target", "cat"], "top1"),
])
def test_cli_errors_return_2_with_one_line(args, message, folder, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    filled = [a.format(missing=tmp_path / "missing", empty=empty, folder=folder) for a in args]
    assert pipeline.main([*filled, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1


def test_cli_process_exits_nonzero_without_traceback(folder, tmp_path):
    result = subprocess.run([sys.executable, "-m", "utils.pipeline", str(folder), "--model", "no_such_model",
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2
    assert "Unknown model" in result.stderr and "Traceback" not in result.stderr
    names = result.stderr.split("Choose one of: ")[1].splitlines()[0]
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: Unknown model 'no_such_model'. Choose one of: " + names]


def test_a_method_s_cache_version_covers_the_shared_modules_it_uses():
    """Editing the perturbation engine, the baselines or the LIME core invalidates the cached maps of the methods
    built on them, although LIME for images lives in another package (utils.lime) than the engine."""
    modules = {name: {m.__name__ for m in pipeline.method_modules(name)} for name in ("lime", "rise", "grad_cam")}
    assert {"utils.lime.image", "utils.lime.core", "utils.explain.perturbation", "utils.explain.baselines",
            "utils.explain.base"} <= modules["lime"]
    assert {"utils.explain.rise", "utils.explain.perturbation", "utils.explain.baselines"} <= modules["rise"]
    assert "utils.explain.cam_layers" in modules["grad_cam"] and "utils.lime.core" not in modules["grad_cam"]
    assert pipeline.method_version("lime") != pipeline.method_version("rise")
