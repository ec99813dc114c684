"""The folder pipeline on Dask (utils.scheduling): the --scheduler forms, the same files as in-process on a
LocalCluster of 2 workers, and a worker killed mid-run losing nothing. Every cluster runs on 127.0.0.1 only
and is stopped by the test that started it."""
import csv
import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest

from utils import pipeline, scheduling
from utils.data import sample_image_path

PHOTOS = ("chelsea", "coffee", "zebra")
METHODS = ["grad_cam", "rise"]  # a gradient method and a seeded sampling one
OPTIONS = {"rise": {"num_samples": 64}}
# A worker's TensorFlow runs cores // workers intra-op threads (1 here) where this process runs 2: float32 sums
# in another order change the last digits (measured: maps and probabilities within 1e-6; with the same thread
# count in both, every file is bit-identical). Maps and probabilities are compared to this tolerance.
ATOL = 1e-5


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        path = sample_image_path(name)
        shutil.copy(path, folder / f"{name}{path.suffix}")
    return folder


@pytest.fixture(scope="module")
def in_process(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("in_process")
    rows = pipeline.explain_folder(photos, out, methods=METHODS, options=OPTIONS, progress=False, log=None)
    assert [r["status"] for r in rows] == ["done"] * len(PHOTOS)
    return out


def _summary(out):
    with open(out / pipeline.SUMMARY_FILE, newline="") as handle:
        return list(csv.DictReader(handle))


def _records(out):
    return {path.parent.name: json.loads(path.read_text()) for path in sorted(out.glob(f"*/{pipeline.RECORD_FILE}"))}


def _assert_same_outputs(out, reference):
    """The same files as ``reference``: CSV rows (one per image, same columns, labels and targets; numbers within
    rounding), records (same keys, options and output files; input.png bit-identical) and every .npy map."""
    ours, theirs = _summary(out), _summary(reference)
    assert [r["file"] for r in ours] == [r["file"] for r in theirs] and list(ours[0]) == list(theirs[0])
    for mine, ref in zip(ours, theirs):
        for column, value in ref.items():
            if column.endswith("_seconds"):
                continue
            if column.endswith(("_prob", "_auc")):
                assert abs(float(mine[column]) - float(value)) <= 2e-4, (mine["file"], column)
            else:
                assert mine[column] == value, (mine["file"], column)
    records, expected = _records(out), _records(reference)
    assert sorted(records) == sorted(expected)
    for name, record in records.items():
        assert record["prediction"]["input_png"] == expected[name]["prediction"]["input_png"]
        top5, ref_top5 = record["prediction"]["top5"], expected[name]["prediction"]["top5"]
        assert [t["index"] for t in top5] == [t["index"] for t in ref_top5]
        assert np.allclose([t["prob"] for t in top5], [t["prob"] for t in ref_top5], atol=ATOL, rtol=0)
        for method, entry in record["methods"].items():
            ref = expected[name]["methods"][method]
            assert (entry["key"], entry["options"], sorted(entry["files"])) == (ref["key"], ref["options"],
                                                                               sorted(ref["files"]))
    for ref in sorted(reference.glob("*/*.npy")):
        mine = np.load(out / ref.parent.name / ref.name)
        assert mine.shape == (224, 224) and mine.dtype == np.float32
        assert np.allclose(mine, np.load(ref), atol=ATOL, rtol=0), ref.relative_to(reference)


@pytest.mark.parametrize("value, expected", [
    ("local", scheduling.Scheduler("local")),
    ("local:2", scheduling.Scheduler("cluster", workers=2)),
    ("tcp://127.0.0.1:8786", scheduling.Scheduler("address", address="tcp://127.0.0.1:8786")),
])
def test_the_three_scheduler_forms(value, expected):
    assert scheduling.parse_scheduler(value) == expected


@pytest.mark.parametrize("value", ["", "locall", "local:0", "local:-1", "local:two", "tcp://host", "host:8786",
                                   "http://127.0.0.1:8786", None, 2])
def test_a_bad_scheduler_is_one_line_naming_the_three_forms(value):
    with pytest.raises(pipeline.PipelineError) as err:
        scheduling.parse_scheduler(value)
    message = str(err.value)
    assert "\n" not in message and "'local'" in message and "local:N" in message and "tcp://host:8786" in message


def test_missing_dask_says_how_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(pipeline.PipelineError, match=r"pip install -r requirements.txt"):
        scheduling.parse_scheduler("local:2")
    assert scheduling.parse_scheduler("local").kind == "local"  # the default never needs Dask


def test_cli_bad_scheduler_exits_2_before_loading_the_model(photos, tmp_path, capsys):
    code = pipeline.main([str(photos), "--out", str(tmp_path / "out"), "--scheduler", "local:zero", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: --scheduler must be")


@pytest.mark.parametrize("workers, cores, threads", [(1, 2, "2"), (2, 2, "1"), (4, 2, "1"), (2, 8, "4")])
def test_workers_share_the_cores_once(workers, cores, threads):
    env = scheduling.worker_environment(workers, cores=cores)
    assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == threads


def test_local_cluster_of_two_writes_the_same_files_as_in_process(photos, in_process, tmp_path):
    out = tmp_path / "local2"
    messages = []
    rows = pipeline.explain_folder(photos, out, methods=METHODS, options=OPTIONS, progress=False,
                                   log=messages.append, scheduler="local:2")
    assert [r["status"] for r in rows] == ["done"] * len(PHOTOS)
    _assert_same_outputs(out, in_process)
    page = (out / pipeline.INDEX_FILE).read_text()
    assert page.count("<tr>") == (in_process / pipeline.INDEX_FILE).read_text().count("<tr>") == len(PHOTOS) + 1


def _kill_a_busy_worker(client, out, killed: list, deadline: float) -> None:
    """Once the first image's outputs are written, SIGKILL a worker process that is running a task."""
    pids = scheduling.worker_pids(client)
    while time.monotonic() < deadline and not killed:
        if any(json.loads(p.read_text() or "{}").get("methods") for p in out.glob(f"*/{pipeline.RECORD_FILE}")):
            busy = [worker for worker, keys in client.processing().items() if keys and worker in pids]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
                return
        time.sleep(0.05)


def test_a_worker_killed_mid_run_loses_no_image_and_corrupts_no_file(photos, in_process, tmp_path):
    from distributed import Client, LocalCluster

    out = tmp_path / "killed"
    killed: list[str] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=50, env=scheduling.worker_environment(2)) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        watcher = threading.Thread(target=_kill_a_busy_worker, args=(client, out, killed, time.monotonic() + 300),
                                   daemon=True)
        watcher.start()
        rows = pipeline.explain_folder(photos, out, methods=METHODS, options=OPTIONS, progress=False, log=None,
                                       scheduler=cluster.scheduler_address)
        watcher.join(timeout=5)
    assert killed, "no worker was busy after the first result: the kill was not tested"
    assert sorted(r["file"] for r in rows) == sorted(p.name for p in photos.iterdir())
    assert [r["status"] for r in rows] == ["done"] * len(PHOTOS)
    assert not list(out.rglob(f"{pipeline.TMP_PREFIX}*"))
    _assert_same_outputs(out, in_process)  # every file complete and loadable, the CSV has each image once
    again = pipeline.explain_folder(photos, out, methods=METHODS, options=OPTIONS, progress=False, log=None)
    assert [r["status"] for r in again] == ["cached"] * len(PHOTOS)  # resumable: keys are the in-process ones


# --------------------------------------------------------------------------- the benchmark's per-image work on Dask
BENCH_METHODS = ("grad_cam", "integrated_gradients", "rise")  # a gradient method, IG's per-image record, a seeded one
TIMING_KEYS = ("median_s", "seconds", "load_average", "finished", "scheduler")


def _assert_same_block(ours, theirs, where=""):
    """Equal JSON blocks but for timings: floats within ATOL (measured: bit-identical on the cue model), the rest
    (model calls, IG steps, verdicts, options, curves' lengths) exactly."""
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), where
        for key in theirs:
            if key not in TIMING_KEYS:
                _assert_same_block(ours[key], theirs[key], f"{where}/{key}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), where
        for i, (mine, ref) in enumerate(zip(ours, theirs)):
            _assert_same_block(mine, ref, f"{where}[{i}]")
    elif isinstance(theirs, float):
        assert abs(ours - theirs) <= ATOL, (where, ours, theirs)
    else:
        assert ours == theirs, (where, ours, theirs)


@pytest.fixture
def one_cue_model(monkeypatch):
    """The tiny benchmark configuration on one cue model (cue_resnet, the cheap one), 3 images, BENCH_METHODS."""
    from dataclasses import replace

    from benchmarks import config

    tiny = config.tiny
    monkeypatch.setattr(config, "tiny", lambda: replace(tiny(), methods=BENCH_METHODS, cue_images=3,
                                                        cue_models=("cue_resnet",)))


def test_benchmark_cue_part_on_two_workers_gives_the_in_process_results(one_cue_model, tmp_path):
    from distributed import Client, LocalCluster

    from benchmarks.run import run_parts

    reference = run_parts(["cue"], tmp_path / "local", tiny=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      silence_logs=50, env=scheduling.worker_environment(2)) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)
        distributed = run_parts(["cue"], tmp_path / "dask", tiny=True, scheduler=cluster.scheduler_address)
        warmed = client.run(lambda: sorted(__import__("benchmarks.quality", fromlist=["_WARMED"])._WARMED))
    results = [json.loads((tmp_path / folder / "results.json").read_text()) for folder in ("local", "dask")]
    assert reference["json"] and distributed["json"]
    assert results[0]["parts"]["cue"]["scheduler"] == "local"
    assert results[1]["parts"]["cue"]["scheduler"] == results[1]["run"]["scheduler"] == cluster.scheduler_address
    block, expected = results[1]["parts"]["cue"]["models"], results[0]["parts"]["cue"]["models"]
    assert [row["method"] for row in expected["cue_resnet"]["methods"]] == sorted(BENCH_METHODS)
    _assert_same_block(block, expected)
    maps, ref_maps = (np.load(tmp_path / folder / "maps_cue_resnet.npz") for folder in ("dask", "local"))
    assert sorted(maps.files) == sorted(ref_maps.files)
    for key in ref_maps.files:  # float16 maps scaled to max |value| 1
        assert np.allclose(maps[key].astype(np.float32), ref_maps[key].astype(np.float32), atol=1e-3), key
    # every worker that ran a task warmed each method up (untimed) before timing it
    busy = [names for names in warmed.values() if names]
    assert busy and all(sorted(m for _, m, _ in names) == sorted(BENCH_METHODS) for names in busy), warmed


def test_a_worker_warms_each_method_up_once_before_timing(monkeypatch):
    from benchmarks import config, quality
    from utils.data.cue import make_cue_images
    from utils.models import load_model

    data = make_cue_images(1, seed=0)
    net = load_model("cue_resnet")
    warm_ups = []
    monkeypatch.setattr(quality, "_WARMED", set())
    monkeypatch.setattr(quality, "warm_up", lambda model, name, *args: warm_ups.append(name))
    task = quality.ImageScoreTask(
        model="cue_resnet", model_key=pipeline.model_fingerprint("cue_resnet", net),
        method_codes={m: pipeline.method_version(m) for m in ("grad_cam", "saliency")}, image=data.images[0],
        target=int(data.labels[0]), mask=data.masks[0], steps=config.tiny().metric_steps, keep=True,
        options={m: quality.method_options(m, config.tiny(), data.images.shape[1]) for m in ("grad_cam", "saliency")})
    first, second = quality.score_image_task(task), quality.score_image_task(task)
    assert warm_ups == ["grad_cam", "saliency"]  # the first task warms each method up, the next ones do not
    assert sorted(first) == ["grad_cam", "saliency"] and first["grad_cam"]["calls"] == second["grad_cam"]["calls"]
    assert first["grad_cam"]["small"].shape == (quality.STORED_MAP_SIZE,) * 2


def test_the_benchmark_default_needs_no_dask(monkeypatch):
    from benchmarks.run import dask_client

    monkeypatch.setitem(__import__("sys").modules, "distributed", None)  # import distributed -> ImportError
    with dask_client("local", ["photos", "cue"]) as client, dask_client("local:2", ["throughput"]) as none:
        assert client is None and none is None  # in-process, or no per-image part: no cluster, no Dask import
    with pytest.raises(pipeline.PipelineError, match=r"pip install -r requirements.txt"):
        dask_client("local:2", ["cue"])


@pytest.mark.parametrize("value", ["local:zero", "tcp://nohost"])
def test_benchmark_cli_bad_scheduler_exits_2_with_one_line(value, tmp_path, capsys):
    from benchmarks.__main__ import main

    code = main(["--tiny", "--parts", "cue", "--out", str(tmp_path / "out"), "--scheduler", value])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: --scheduler must be"), err
    assert not (tmp_path / "out").exists()
