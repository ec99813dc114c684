"""Run the benchmark's parts in order and merge their results into results.json."""
from __future__ import annotations

import contextlib
import datetime
import os
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from utils.data import load_image, sample_images
from utils.explain import base
from utils.models import load_model

from . import config as configs
from . import report, targets, timing


def _log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def reference_photo():
    """The photo every speed target uses: coffee (espresso, 0.95), the model's most confident bundled photo."""
    model = load_model()
    image = load_image(sample_images()["coffee"])
    target = int(base.predict(model, image[None])[0].argmax())
    return model, image, target


def run_throughput(config, out_dir=None) -> dict:
    model = load_model()
    return {"throughput": timing.throughput(model, config.throughput_batches, repeats=config.repeats)}


def run_targets(config, out_dir=None) -> dict:
    model, image, target = reference_photo()
    found = []
    groups = config.target_groups
    if "perturbation" in groups:
        names = tuple(m for m in targets.PERTURBATION_METHODS if config.methods is None or m in config.methods)
        _log(f"targets: perturbation methods ({', '.join(names)})")
        found += targets.perturbation_targets(model, image, target, config.perturbation_samples,
                                              max(1, config.repeats // 2), names)
    if "grad_cam" in groups:
        _log("targets: Grad-CAM against one forward+backward, tf-keras-vis and eli5")
        found += targets.gradcam_targets(model, image, target, config.repeats)[0]
    if "score_cam" in groups:
        _log(f"targets: Score-CAM against tf-keras-vis Scorecam, {config.score_cam_maps} maps")
        found.append(targets.score_cam_target(model, image, target, config.score_cam_maps, config.repeats)[0])
    if "integrated_gradients" in groups:
        _log(f"targets: Integrated Gradients, {config.ig_samples} steps")
        found.append(targets.ig_target(model, image, target, config.ig_samples, config.repeats))
    return {"targets": found, "photo": "coffee", "target": target}


def run_libraries(config, out_dir=None) -> dict:
    model, image, target = reference_photo()
    return {"libraries": targets.library_timings(model, image, target, config)}


def run_agreement(config, out_dir=None) -> dict:
    from . import agreement

    return agreement.run_agreement(config, log=_log)


def run_photos(config, out_dir, client=None) -> dict:
    from . import quality

    if config.data:
        return {"models": {"efficientnet_lite0": photos_on_data(config, out_dir, log=_log, client=client)}}
    return {"models": {"efficientnet_lite0": quality.photo_benchmark(config, out_dir, log=_log, client=client)}}


ROUGH_PHOTO_SECONDS = 60.0  # seconds per image of the photos part when no run of the same sizes is recorded


def previous_record(part: str, config, out_dir) -> tuple[dict | None, float | None]:
    """The part's block from an earlier run of the same sizes (in ``out_dir``, else in the committed results) and
    the speed of the machine that ran it (:func:`benchmarks.timing.recorded_speed`); (None, None) when there is none."""
    for folder in (Path(out_dir), report.RESULTS_DIR):
        results = report.load_results(folder)
        if results.get("config", {}).get("name") == config.name and part in results.get("parts", {}):
            return results["parts"][part], timing.recorded_speed(results)
    return None, None


def previous_part(part: str, config, out_dir) -> dict | None:
    """The part's block from an earlier run of the same sizes: in ``out_dir``, else in the committed results."""
    return previous_record(part, config, out_dir)[0]


def photo_seconds_estimate(config, images: int, out_dir, speed: float | None = None) -> tuple[float, str]:
    """Seconds of the photos part on ``images`` images, from a recorded run of the same sizes if any, scaled to
    a machine of ``speed`` (:func:`benchmarks.timing.machine_speed`) when given."""
    block, recorded = previous_record("photos", config, out_dir)
    lite0 = (block or {}).get("models", {}).get("efficientnet_lite0", {})
    if block and block.get("seconds") and lite0.get("images"):
        return images * block["seconds"] / lite0["images"] * timing.slowdown(recorded, speed), "the recorded run"
    committed = timing.recorded_speed(report.load_results(report.RESULTS_DIR))
    return images * ROUGH_PHOTO_SECONDS * timing.slowdown(committed, speed), "a rough full-size figure"


def photos_on_data(config, out_dir, log=print, client=None) -> dict:
    """Every method of the photos part (:func:`benchmarks.quality.benchmark_model`) on ``config.data``'s images,
    one method at a time under a progress bar (methods x images); the per-image work on ``client``'s Dask
    workers when given."""
    from tqdm import tqdm

    from utils.explain import METHODS

    from . import datasets, quality

    model = load_model()
    data = datasets.load(config.data, limit=config.data_limit)
    targets = data.targets if data.targets is not None else base.predict(model, data.images).argmax(axis=1)
    twin_photos = np.stack([load_image(sample_images()[n]) for n in quality.TWIN_CHECK_PHOTOS])
    twin = quality.check_random_twin("efficientnet_lite0", twin_photos, log=log)
    block = {"methods": [], "curves": {}, "_maps": {}, "_sanity_maps": {}}
    methods = list(config.methods or METHODS)
    with tqdm(total=len(methods) * len(data.images), desc=f"photos on {config.data}", unit="map",
              file=sys.stderr) as bar:
        for name in methods:
            one = quality.benchmark_model(model, data.images, targets, replace(config, methods=(name,)),
                                          masks=data.masks, sanity_model="efficientnet_lite0", log=log,
                                          client=client, model_name="efficientnet_lite0")
            block["methods"] += one["methods"]
            for key in ("curves", "_maps", "_sanity_maps"):
                block[key].update(one[key])
            bar.update(len(data.images))
    block.update({"random_twin": {**twin, "photos": list(quality.TWIN_CHECK_PHOTOS)}, "images": len(data.images),
                  "photos": data.names, "targets": [int(t) for t in targets], "data": config.data,
                  "note": data.note + "; sanity check and stability on the first image"})
    quality._store_maps(block, out_dir, "efficientnet_lite0")
    return block


def run_cue(config, out_dir, client=None) -> dict:
    from . import quality

    return {"models": quality.cue_benchmark(config, out_dir, log=_log, client=client)}


def run_library_quality(config, out_dir) -> dict:
    from . import library_quality

    return library_quality.run_library_quality(config, out_dir, log=_log,
                                               previous=previous_part("library_quality", config, out_dir))


PER_IMAGE_PARTS = ("photos", "cue")  # the parts whose per-image work runs on Dask with --scheduler local:N / tcp://
RUNNERS = {"throughput": run_throughput, "targets": run_targets, "libraries": run_libraries,
           "agreement": run_agreement, "photos": run_photos, "cue": run_cue, "library_quality": run_library_quality}


def estimate_data_run(parts, config, out_dir, speed: float | None = None) -> str:
    """One line, printed before a ``--data`` run starts: how many images and about how long on a machine of
    ``speed`` (:func:`benchmarks.timing.machine_speed`; recorded times are scaled by the ratio of the two
    machines' speeds)."""
    from . import datasets, library_quality

    n = datasets.count(config.data, config.data_limit)
    total, sources = 0.0, set()
    if "photos" in parts:
        seconds, how = photo_seconds_estimate(config, n, out_dir, speed)
        total, sources = total + seconds, sources | {how}
    if "library_quality" in parts:
        block, recorded = previous_record("library_quality", config, out_dir)
        if block is None:
            recorded = timing.recorded_speed(report.load_results(report.RESULTS_DIR))
        seconds, how = library_quality.estimate_seconds(config, {"efficientnet_lite0": n}, block)
        total, sources = total + seconds * timing.slowdown(recorded, speed), sources | {how}
    scale = "" if speed is None else f", scaled to this machine's speed ({speed:.1f} images/s forward+backward)"
    return (f"{config.data}: {n} images; parts {', '.join(parts)}; estimated {total / 60:.0f} min on this machine "
            f"(from {' and '.join(sorted(sources))}{scale})")


class LoadSampler:
    """Samples the 1-minute load average every ``interval`` seconds in a background thread while in a
    ``with`` block; ``summary()`` gives its min / mean / max (the machine is shared: this says how busy)."""

    def __init__(self, interval: float = 10.0):
        self.interval, self.samples = interval, [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict:
        return {"min": min(self.samples), "mean": statistics.fmean(self.samples), "max": max(self.samples),
                "samples": len(self.samples), "interval_s": self.interval}


def dask_client(scheduler: str, parts) -> contextlib.AbstractContextManager:
    """A Dask client for ``scheduler`` (:func:`utils.scheduling.open_client`) when it is not ``local`` and a part
    of :data:`PER_IMAGE_PARTS` runs; else a context giving None (and Dask is not imported)."""
    if scheduler == "local" or not any(part in PER_IMAGE_PARTS for part in parts):
        return contextlib.nullcontext()
    from utils.scheduling import open_client, parse_scheduler

    return open_client(parse_scheduler(scheduler), log=_log)


def run_parts(parts, out_dir: Path, quick: bool = False, tiny: bool = False, data: str | None = None,
              data_limit: int | None = None, scheduler: str = "local") -> dict:
    """Run ``parts`` with the quick/full/tiny sizes and write the merged results to ``out_dir``; with ``data``
    the per-image parts run on that data set's images (benchmarks.datasets). ``scheduler`` (``local``,
    ``local:N`` or ``tcp://host:port``, :mod:`utils.scheduling`) runs the per-image work of the parts in
    :data:`PER_IMAGE_PARTS` on Dask workers; ``local`` is this process."""
    config = configs.tiny() if tiny else configs.QUICK if quick else configs.FULL
    config = replace(config, data=data, data_limit=data_limit)
    base.SHOW_PROGRESS = False
    speed = timing.machine_speed(load_model()) if data else None  # scales the estimate; recorded with the results
    if data:
        _log(estimate_data_run(parts, config, out_dir, speed))
    results = report.load_results(out_dir)
    recorded = results.get("config", {})
    if recorded.get("name") != config.name or recorded.get("data") != config.data:
        results = {"parts": {}}  # never mix sizes (or data sets) in one table
    results["parts"].pop("notes", None)  # notes describe the run they were written for
    results.pop("notes", None)
    results["config"] = config.as_dict()
    results["machine"] = report.machine()
    if speed is not None:
        results["speed"] = speed
    else:
        results.pop("speed", None)  # a full run's speed is its throughput part's
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    started, wall = datetime.datetime.now(), time.perf_counter()
    with LoadSampler(interval=30.0) as overall, dask_client(scheduler, parts) as client:
        for part in parts:
            _log(f"part {part} ({config.name})")
            start = time.perf_counter()
            with LoadSampler() as load:
                if part in PER_IMAGE_PARTS:
                    block = RUNNERS[part](config, out_dir, client=client)
                    block["scheduler"] = scheduler
                else:
                    block = RUNNERS[part](config, out_dir)
            block["seconds"] = round(time.perf_counter() - start, 1)
            block["load_average"] = load.summary()
            block["finished"] = f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
            results["parts"][part] = block
            report.save(results, out_dir)  # after every part: a crash later keeps what was measured
            _log(f"part {part} took {block['seconds']} s (load average {block['load_average']['mean']:.1f})")
    results["run"] = {"parts": list(parts), "started": f"{started:%Y-%m-%d %H:%M}",
                      "finished": f"{datetime.datetime.now():%Y-%m-%d %H:%M}",
                      "wall_seconds": round(time.perf_counter() - wall, 1), "load_average": overall.summary(),
                      "scheduler": scheduler}
    return report.save(results, out_dir)
