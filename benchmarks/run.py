"""Run the benchmark's parts in order and merge their results into results.json."""
from __future__ import annotations

import datetime
import os
import statistics
import threading
import time
from pathlib import Path

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
        _log("targets: perturbation methods")
        found += targets.perturbation_targets(model, image, target, config.perturbation_samples,
                                              max(1, config.repeats // 2))
    if "grad_cam" in groups:
        _log("targets: Grad-CAM against one forward+backward, tf-keras-vis and eli5")
        found += targets.gradcam_targets(model, image, target, config.repeats)[0]
    if "score_cam" in groups:
        _log(f"targets: Score-CAM against tf-keras-vis Scorecam, {config.score_cam_maps} maps")
        found.append(targets.score_cam_target(model, image, target, config.score_cam_maps, config.repeats)[0])
    if "integrated_gradients" in groups:
        _log(f"targets: Integrated Gradients, {config.ig_steps} steps")
        found.append(targets.ig_target(model, image, target, config.ig_steps, config.repeats))
    return {"targets": found, "photo": "coffee", "target": target}


def run_libraries(config, out_dir=None) -> dict:
    model, image, target = reference_photo()
    return {"libraries": targets.library_timings(model, image, target, config)}


def run_agreement(config, out_dir=None) -> dict:
    from . import agreement

    return agreement.run_agreement(config, log=_log)


def run_photos(config, out_dir) -> dict:
    from . import quality

    return {"models": {"efficientnet_lite0": quality.photo_benchmark(config, out_dir, log=_log)}}


def run_cue(config, out_dir) -> dict:
    from . import quality

    return {"models": quality.cue_benchmark(config, out_dir, log=_log)}


RUNNERS = {"throughput": run_throughput, "targets": run_targets, "libraries": run_libraries,
           "agreement": run_agreement, "photos": run_photos, "cue": run_cue}


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


def run_parts(parts, out_dir: Path, quick: bool = False, tiny: bool = False) -> dict:
    """Run ``parts`` with the quick/full/tiny sizes and write the merged results to ``out_dir``."""
    config = configs.tiny() if tiny else configs.QUICK if quick else configs.FULL
    base.SHOW_PROGRESS = False
    results = report.load_results(out_dir)
    if results.get("config", {}).get("name") != config.name:
        results = {"parts": {}}  # never mix sizes in one table
    results["parts"].pop("notes", None)  # notes describe the run they were written for
    results.pop("notes", None)
    results["config"] = config.as_dict()
    results["machine"] = report.machine()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    started, wall = datetime.datetime.now(), time.perf_counter()
    with LoadSampler(interval=30.0) as overall:
        for part in parts:
            _log(f"part {part} ({config.name})")
            start = time.perf_counter()
            with LoadSampler() as load:
                block = RUNNERS[part](config, out_dir)
            block["seconds"] = round(time.perf_counter() - start, 1)
            block["load_average"] = load.summary()
            block["finished"] = f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
            results["parts"][part] = block
            report.save(results, out_dir)  # after every part: a crash later keeps what was measured
            _log(f"part {part} took {block['seconds']} s (load average {block['load_average']['mean']:.1f})")
    results["run"] = {"parts": list(parts), "started": f"{started:%Y-%m-%d %H:%M}",
                      "finished": f"{datetime.datetime.now():%Y-%m-%d %H:%M}",
                      "wall_seconds": round(time.perf_counter() - wall, 1), "load_average": overall.summary()}
    return report.save(results, out_dir)
