"""The benchmark's plumbing (benchmarks/): a tiny run of a few parts, and the structure of what it writes."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import config, report
from benchmarks.targets import _target

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--parts", "throughput,targets,photos",
                             "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def test_tiny_run_writes_json_markdown_plots_and_maps(tiny_run):
    data = json.loads((tiny_run / "results.json").read_text())
    assert data["config"]["name"] == "tiny"
    assert set(data["parts"]) == {"throughput", "targets", "photos"}
    rows = data["parts"]["photos"]["models"]["efficientnet_lite0"]["methods"]
    assert [r["method"] for r in rows] == ["grad_cam", "saliency"]
    for row in rows:
        assert row["median_s"] > 0 and row["model_calls"] >= 1
        assert 0 <= row["deletion_auc"] <= 1 and 0 <= row["insertion_auc"] <= 1
        assert -1 <= row["sanity_rank_correlation"] <= 1 and -1 <= row["stability"] <= 1
    assert rows[0]["model_calls"] == 1 and rows[1]["model_calls"] == 1  # one forward+backward each
    for t in data["parts"]["targets"]["targets"]:
        assert t["status"] in ("MET", "MISSED") and t["ratio"] > 0
        assert ("why" in t) == (t["status"] == "MISSED")
    markdown = (tiny_run / "results.md").read_text()
    assert "## Targets" in markdown and "grad_cam <= 1.5 x one forward+backward" in markdown
    assert (tiny_run / "throughput.png").exists() and (tiny_run / "targets.png").exists()
    assert (tiny_run / "maps_efficientnet_lite0.npz").exists()


def test_a_second_run_of_one_part_keeps_the_others(tiny_run):
    before = json.loads((tiny_run / "results.json").read_text())
    from benchmarks.run import run_parts

    run_parts(["throughput"], tiny_run, tiny=True)
    after = json.loads((tiny_run / "results.json").read_text())
    assert after["parts"]["photos"] == before["parts"]["photos"]


def test_target_verdicts_and_unknown_part():
    assert _target("t", 1.0, 1.1, "at_most", {})["status"] == "MET"
    missed = _target("t", 2.2, 1.1, "at_most", {}, "because")
    assert missed["status"] == "MISSED" and missed["missed_by"] == "100% over the bound" and missed["why"] == "because"
    assert _target("t", 6.0, 5.0, "at_least", {})["status"] == "MET"
    assert _target("t", 2.5, 5.0, "at_least", {}, "x")["missed_by"] == "50% short of the bound"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--parts", "nope"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 2 and "unknown part" in result.stderr


def test_configs_are_ordered():
    assert config.tiny().perturbation_samples < config.QUICK.perturbation_samples < config.FULL.perturbation_samples
    assert report.load_results(Path("/nonexistent")) == {"parts": {}}
