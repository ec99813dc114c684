"""The benchmark's plumbing (benchmarks/): a tiny run of a few parts, and the structure of what it writes."""
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import config, report
from benchmarks.targets import _target
from utils.explain import METHODS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    parts = "throughput,targets,agreement,photos"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--parts", parts, "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def test_tiny_run_writes_json_markdown_plots_and_maps(tiny_run):
    data = json.loads((tiny_run / "results.json").read_text())
    assert data["config"]["name"] == "tiny"
    assert set(data["parts"]) == {"throughput", "targets", "agreement", "photos"}
    rows = data["parts"]["photos"]["models"]["efficientnet_lite0"]["methods"]
    assert [r["method"] for r in rows] == ["grad_cam", "saliency"]
    for row in rows:
        assert row["median_s"] > 0 and row["options"] == {}
        # the espresso photo (0.95): removing what either map ranks first drops the score faster than adding it
        # back raises it (full run: deletion 0.17 / 0.18, insertion 0.44 / 0.37)
        assert row["deletion_auc"] < row["insertion_auc"] - 0.1, row
    assert rows[0]["model_calls"] == 1 and rows[1]["model_calls"] == 1  # one forward+backward each
    assert rows[0]["stability"] > 0.9  # Grad-CAM's 7 x 7 map barely moves under noise of sd 4 (full run: 1.0)
    for t in data["parts"]["targets"]["targets"]:
        assert t["status"] in ("MET", "MISSED") and t["ratio"] > 0
        assert ("why" in t) == (t["status"] == "MISSED")
        assert t["method"] in METHODS and t["target"].startswith(t["method"])  # readers use the field, not the text
    markdown = (tiny_run / "results.md").read_text()
    assert "## Targets" in markdown and "grad_cam <= 1.5 x one forward+backward" in markdown
    assert (tiny_run / "throughput.png").exists() and (tiny_run / "targets.png").exists()
    assert (tiny_run / "maps_efficientnet_lite0.npz").exists()


def test_tiny_run_records_verdicts_twin_agreement_and_load(tiny_run):
    from utils.evaluation.metrics import RANDOM_LOGIT_MIN_SD

    data = json.loads((tiny_run / "results.json").read_text())
    block = data["parts"]["photos"]["models"]["efficientnet_lite0"]
    assert block["random_twin"]["usable"] and block["random_twin"]["sd"] > RANDOM_LOGIT_MIN_SD
    for row in block["methods"]:
        expected = "passes" if abs(row["sanity_rank_correlation_abs"]) < 0.5 else "fails"
        assert row["sanity_verdict"] == ("undefined (constant map)" if row["sanity_final_map_constant"] else expected)
    agreement = data["parts"]["agreement"]
    assert agreement["smoothgrad"]["budgets"] == [4, 8] and len(agreement["rise"]["per_photo"]) == 1
    assert agreement["rise"]["num_samples"] == 32
    # RISE's map averages the espresso probability over masks that keep half the image (1000 masks: 0.41)
    assert 0.2 < agreement["rise"]["per_photo"][0]["probability_coverage_mean"] < 0.65
    for part in data["parts"].values():
        assert part["load_average"]["samples"] >= 2 and part["load_average"]["max"] >= part["load_average"]["min"]
    assert data["machine"]["cpu_model"] and data["machine"]["cpus"] >= 1
    markdown = (tiny_run / "results.md").read_text()
    assert "Seed-to-seed agreement" in markdown and "Sanity verdict" in markdown and "load average" in markdown


def _option_names(tree):
    """Every key of every ``options`` dict in a results tree (the options each method ran with)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "options" and isinstance(value, dict):
                yield from value
            yield from _option_names(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _option_names(value)


def test_smoothgrad_by_budget_equals_separate_runs():
    import numpy as np

    from benchmarks.agreement import rise_normalisations, smoothgrad_by_budget
    from utils.explain.gradients import smoothgrad

    model = _small_cnn()
    image = np.random.default_rng(0).uniform(0, 255, (24, 24, 3)).astype(np.float32)
    maps = smoothgrad_by_budget(model, image, 1, (3, 40, 7), seed=4, batch_size=16)
    for n, m in maps.items():
        np.testing.assert_allclose(m, smoothgrad(model, image, 1, num_samples=n, seed=4, batch_size=16),
                                   rtol=1e-4, atol=1e-6)
    both = rise_normalisations(model, image, 1, 40, seed=2, cells=3, batch_size=16)
    np.testing.assert_allclose(both["coverage"], METHODS["rise"](model, image, 1, num_samples=40, cells=3, seed=2,
                                                                 batch_size=16), rtol=1e-5, atol=1e-7)
    logit = rise_normalisations(model, image, 1, 40, seed=2, cells=3, batch_size=16, output="logit")
    np.testing.assert_allclose(logit["coverage"], METHODS["rise"](model, image, 1, num_samples=40, cells=3, seed=2,
                                                                  batch_size=16, output="logit"), rtol=1e-5, atol=1e-6)
    assert not np.allclose(both["coverage"], both["paper"])


def _small_cnn():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(x))


def test_ig_to_completeness_meets_its_bound_and_records_it():
    import numpy as np

    from benchmarks.quality import ig_to_completeness
    from utils.explain.integrated_gradients import completeness_gap

    model = _small_cnn()
    image = np.random.default_rng(1).uniform(0, 255, (24, 24, 3)).astype(np.float32)
    record = []
    saliency = ig_to_completeness(model, image, 2, tolerance=0.01, record=record)
    assert len(record) == 1 and record[0]["gap"] < 0.01 and record[0]["num_samples"] >= 32
    assert completeness_gap(model, image, 2, saliency) == pytest.approx(record[0]["gap"], rel=1e-3, abs=1e-6)


def test_committed_results_use_the_current_option_names():
    """Every option the committed results.json records is one that a method (or IG's adaptive wrapper) takes."""
    from benchmarks.quality import ig_to_completeness
    from utils.explain import METHODS

    data = json.loads((ROOT / "benchmarks" / "results" / "results.json").read_text())
    recorded = set(_option_names(data))
    assert recorded, "the results record the options each method ran with"
    taken = {option for method in METHODS.values() for option in method.info.options}
    taken |= set(inspect.signature(ig_to_completeness).parameters)  # IG runs through its adaptive wrapper
    assert recorded <= taken, f"option names that no method has any more: {sorted(recorded - taken)}"


def test_committed_results_come_from_the_current_code():
    """The committed results.json: IG at its completeness bound on every image, a usable random twin, a verdict
    per method, the agreement part; results.md cites only files that exist."""
    from benchmarks.quality import IG_TOLERANCE

    results = ROOT / "benchmarks" / "results"
    data = json.loads((results / "results.json").read_text())
    assert data["config"]["name"] == "full"
    agreement = data["parts"]["agreement"]
    from utils.explain.gradients import DEFAULT_SMOOTHGRAD_SAMPLES

    smooth = agreement["smoothgrad"]
    # The default budget is the smallest measured one whose median seed-to-seed r reaches the target.
    assert smooth["smallest_budget_meeting_target"] == DEFAULT_SMOOTHGRAD_SAMPLES == smooth["default_num_samples"]
    below = [n for n in smooth["budgets"] if n < DEFAULT_SMOOTHGRAD_SAMPLES]
    assert all(smooth["median_r"][str(n)] < smooth["target_r"] for n in below)
    # RISE's coverage normalisation agrees with itself across seeds better than N p, on every photo.
    for row in agreement["rise"]["per_photo"]:
        for score in agreement["rise"]["scores"]:
            assert row[f"{score}_coverage_r"] > row[f"{score}_paper_r"], (row["photo"], score)
    for part in ("photos", "cue"):
        for name, block in data["parts"][part]["models"].items():
            assert block["random_twin"]["usable"], name
            ig = next(r for r in block["methods"] if r["method"] == "integrated_gradients")
            for steps, gap in zip(ig["ig_steps"], ig["ig_gaps"]):
                assert gap < IG_TOLERANCE or steps == data["config"]["ig_max_samples"], (name, gap)
            assert all(r["sanity_verdict"] in ("passes", "fails", "undefined (constant map)") for r in block["methods"])
    markdown = (results / "results.md").read_text()
    assert "DESIGN.md" not in markdown
    import re
    for cited in set(re.findall(r"(docs/[\w./-]+\.md)", markdown)):
        assert (ROOT / cited).exists(), cited


def test_a_second_run_of_one_part_keeps_the_others(tiny_run):
    before = json.loads((tiny_run / "results.json").read_text())
    from benchmarks.run import run_parts

    run_parts(["throughput"], tiny_run, tiny=True)
    after = json.loads((tiny_run / "results.json").read_text())
    assert after["parts"]["photos"] == before["parts"]["photos"]


def test_recorded_times_are_scaled_by_the_ratio_of_machine_speeds():
    from benchmarks.timing import recorded_speed, slowdown

    full = {"parts": {"throughput": {"throughput": {"16": {"forward_backward_images_per_s": 36.0}}}}}
    assert recorded_speed(full) == 36.0 and recorded_speed({"speed": 12.0, **full}) == 12.0
    assert recorded_speed({"parts": {}}) is None
    assert slowdown(36.0, 18.0) == 2.0 and slowdown(None, 18.0) == slowdown(36.0, None) == 1.0


def test_target_verdicts_and_unknown_part():
    assert _target("lime", "t", 1.0, 1.1, "at_most", {})["status"] == "MET"
    missed = _target("lime", "t", 2.2, 1.1, "at_most", {}, "because")
    assert missed["status"] == "MISSED" and missed["missed_by"] == "100% over the bound" and missed["why"] == "because"
    assert _target("lime", "t", 6.0, 5.0, "at_least", {})["status"] == "MET"
    assert _target("lime", "t", 2.5, 5.0, "at_least", {}, "x")["missed_by"] == "50% short of the bound"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--parts", "nope"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 2 and "unknown part" in result.stderr


def test_configs_are_ordered():
    assert config.tiny().perturbation_samples <= config.QUICK.perturbation_samples < config.FULL.perturbation_samples
    assert report.load_results(Path("/nonexistent")) == {"parts": {}}


def test_quality_options_are_registered_options_with_the_registered_budget():
    """The quality benchmark's options per method are options the method takes now, its budget under the name
    the registry gives (``METHODS[name].info.budget``), halved for the repeated runs."""
    from benchmarks import quality
    from utils.explain import METHODS

    for name, method in METHODS.items():
        info = method.info
        options = quality.method_options(name, config.FULL, 224)
        fn = quality.method_function(name)
        takes = set(inspect.signature(fn).parameters) - {"model", "image", "target", "record"}
        assert set(options) <= (takes if fn is not method else set(info.options)), (name, options)
        if info.budget in options:
            assert quality.reduced_options(name, options)[info.budget] == (
                options[info.budget] // 2 if info.stochastic else options[info.budget]), name
    assert quality.method_options("rise", config.FULL, 224) == {METHODS["rise"].info.budget: 300}
    assert quality.method_options("score_cam", config.FULL, 224) == dict(METHODS["score_cam"].info.quick)
    assert quality.method_options("occlusion", config.FULL, 224) == {"window": 32, "stride": 16}


def test_the_targets_spend_each_method_s_registered_budget():
    import numpy as np

    from benchmarks.targets import at_budget, model_calls
    from utils.explain import METHODS

    model = _small_cnn()
    image = np.random.default_rng(3).uniform(0, 255, (24, 24, 3)).astype(np.float32)
    assert at_budget("occlusion", 9) == {} and at_budget("grad_cam", 9) == {}
    assert model_calls(lambda: METHODS["rise"](model, image, 1, progress=False, **at_budget("rise", 24))) == 24
    assert model_calls(lambda: METHODS["smoothgrad"](model, image, 1, progress=False,
                                                     **at_budget("smoothgrad", 5))) == 5


def test_the_report_renders_the_committed_results(tmp_path):
    data = json.loads((ROOT / "benchmarks" / "results" / "results.json").read_text())
    text = report.write_markdown(data, tmp_path).read_text()
    assert f"RISE at {data['parts']['agreement']['rise']['num_samples']} masks" in text
    assert f"at most {data['config']['ig_max_samples']}): steps per image" in text


def test_the_time_budget_splits_library_quality_into_explaining_and_the_rest():
    """results.md's floor: every other part plus library_quality's timed explanations, which sum the rows'
    per-image seconds; what is left of the part is scoring, warm-up calls and checks."""
    data = json.loads((ROOT / "benchmarks" / "results" / "results.json").read_text())
    budget = report.time_budget(data)
    parts = data["parts"]
    library = parts["library_quality"]["seconds"]
    assert budget["total"] == pytest.approx(sum(p["seconds"] for p in parts.values()))
    assert 0 < sum(budget["explaining"].values()) < library and budget["library_rest"] > 0
    assert budget["floor"] == pytest.approx(budget["total"] - budget["library_rest"])
    rows = parts["library_quality"]["models"]["efficientnet_lite0"]["rows"]
    by_hand = sum(r["summary"]["seconds"]["mean"] * r["images_explained"] for r in rows)
    assert budget["explaining"]["efficientnet_lite0"] == pytest.approx(by_hand, rel=1e-6)
    committed = (ROOT / "benchmarks" / "results" / "results.md").read_text()
    assert f"cannot take less than {budget['floor'] / 60:.1f} min" in committed
    assert report.time_budget({"parts": {"throughput": {"seconds": 3.0}}}) == {"parts": {"throughput": 3.0},
                                                                               "total": 3.0}

QUICK_SECONDS_QUIET = 180  # --quick's budget on a quiet 2-core machine (README, benchmarks/config.py)
QUICK_SECONDS_BOUND = 2 * QUICK_SECONDS_QUIET  # what this test allows on a shared or slower machine


def test_the_quick_run_runs_every_part_in_its_budget(tmp_path):
    """``python -m benchmarks --quick``, as CI would run it: every part, in at most twice its three minutes."""
    out = tmp_path / "quick"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)], capture_output=True,
                            text=True, cwd=ROOT, timeout=3 * QUICK_SECONDS_BOUND)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["name"] == "quick" and set(data["parts"]) == set(config.PARTS)
    assert data["run"]["wall_seconds"] < QUICK_SECONDS_BOUND, data["run"]
    from benchmarks.library_quality import ADAPTERS

    rows = data["parts"]["library_quality"]["models"]["cue_resnet"]["rows"]
    assert {r["adapter"] for r in rows if r["adapter"]} == set(ADAPTERS)  # every library call runs, if briefly


def test_committed_library_quality_covers_every_adapter_on_the_full_image_sets():
    """The committed library_quality part: every adapter at both settings next to ours, on all 25 bundled photos
    (pointing game on the boxed ones) and the pilot-sized planted-cue set, with intervals and ranking verdicts."""
    from benchmarks import library_quality, statistics

    data = json.loads((ROOT / "benchmarks" / "results" / "results.json").read_text())
    block = data["parts"]["library_quality"]
    full = config.FULL
    for name, images in (("efficientnet_lite0", full.library_photos), ("cue_resnet", full.library_cue_images)):
        model = block["models"][name]
        assert model["images"] == images, name
        pairs = {(r["adapter"], r["variant"]) for r in model["rows"] if r["variant"] != "ours"}
        assert pairs == {(a, v) for a in library_quality.ADAPTERS for v in ("default", "matched")}, name
        for row in model["rows"]:
            summary = row["summary"]["deletion_auc"]
            assert summary["n"] == row["images_explained"] and summary["low"] <= summary["mean"] <= summary["high"]
        verdicts = {c["verdict"] for c in model["rankings"]}
        assert model["rankings"] and verdicts <= {statistics.REPRODUCED, statistics.NOT_REPRODUCED,
                                                  statistics.NOT_RESOLVED}, name
    assert block["models"]["efficientnet_lite0"]["mask_share"]["n"] >= 10  # photos with a box of their top-1 class
    assert block["models"]["cue_resnet"]["sample_size"]["images"] == full.library_cue_images
