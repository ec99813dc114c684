"""Every method in ``METHODS``: time, model calls and quality, on photos and on planted-cue images.

Quality comes from :mod:`utils.evaluation.metrics`: deletion and insertion AUC (RISE protocol), pointing game
and relevance mass against the planted cue's mask, the cascading model-randomisation sanity check
and stability under small input noise (mean Spearman to the clean map). The sanity verdict is
:func:`utils.evaluation.metrics.sanity_verdict`: the Spearman rank correlation of |map| between the original and
the fully randomised model, "passes" below ``utils.evaluation.metrics.SANITY_MAX_RANK_CORRELATION``. The random
twin's logits are checked first (:func:`utils.evaluation.metrics.random_logit_spread`); a twin without a usable
spread stops the benchmark, since its verdicts would mean nothing. Integrated Gradients runs to its
completeness bound on each image (:func:`ig_to_completeness`), its ``num_samples`` (path intervals) and gaps
recorded. A method
whose fully randomised map is constant gets the verdict "undefined (constant map)".
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from utils.data import load_image, object_boxes, object_mask, sample_images
from utils.evaluation import metrics
from utils.explain import METHODS, base, count_model_calls
from utils.explain.gradients import DEFAULT_SMOOTHGRAD_SAMPLES
from utils.explain.integrated_gradients import integrated_gradients_adaptive
from utils.models import load_model

STORED_MAP_SIZE = 112  # maps kept in results/maps.npz for notebook 08 (float16, downsampled)
# Integrated Gradients runs until its completeness gap is below IG_TOLERANCE (doubling num_samples, its path
# intervals, from IG_START_SAMPLES), up to IG_MAX_SAMPLES; the num_samples and gap reached on each image are recorded.
IG_TOLERANCE = 0.05
IG_START_SAMPLES = 32
IG_MAX_SAMPLES = 1024  # the full configuration's bound (benchmarks.config: ig_max_samples)
TWIN_CHECK_PHOTOS = ("coffee", "chelsea", "zebra", "fire_engine")  # the random twin's logits are checked on these


def ig_to_completeness(model, image: np.ndarray, target: int, *, tolerance: float = IG_TOLERANCE,
                       start_samples: int = IG_START_SAMPLES, max_samples: int = IG_MAX_SAMPLES,
                       seed: int | None = 0, record: list | None = None) -> np.ndarray:
    """Integrated Gradients (black baseline) at the ``num_samples`` that meets its completeness bound on this
    image: :func:`utils.explain.integrated_gradients.integrated_gradients_adaptive` doubles ``num_samples``
    until the relative gap |sum(attr) - (f(x) - f(0))| / |f(x) - f(0)| is below ``tolerance``. Appends
    ``{"num_samples", "gap"}`` to ``record`` (the benchmark reports them per image)."""
    result = integrated_gradients_adaptive(model, image, target, tolerance=tolerance, start_samples=start_samples,
                                           max_samples=max_samples, seed=seed, progress=False)
    if record is not None:
        record.append({"num_samples": int(result.num_samples), "gap": float(result.gap)})
    return result.map


def method_options(name: str, config, image_size: int) -> dict:
    """Options for the quality benchmark, from the method's registered metadata (``METHODS[name].info``).

    Sampling perturbation methods run at ``config.quality_samples`` (their ``budget`` option), SmoothGrad at
    its default budget (unless ``config.smoothgrad_samples``); a fixed-cost method with a budget (Score-CAM)
    at its ``quick`` setting; a sliding window (occlusion) scaled to the image, window 1/7 and stride 1/14 of
    its side; Integrated Gradients to its completeness bound (:func:`ig_to_completeness`, at most
    ``config.ig_max_samples`` path intervals).
    """
    if name == "integrated_gradients":
        return {"tolerance": IG_TOLERANCE, "start_samples": IG_START_SAMPLES, "max_samples": config.ig_max_samples}
    info = METHODS[name].info
    if "window" in info.options:
        return {"window": image_size // 7, "stride": image_size // 14}
    if info.budget is None:
        return {}
    if not info.stochastic:
        return {info.budget: info.quick[info.budget]}
    if info.family == "perturbation":
        return {info.budget: config.quality_samples}
    return {info.budget: config.smoothgrad_samples or DEFAULT_SMOOTHGRAD_SAMPLES}


def reduced_options(name: str, options: dict) -> dict:
    """``options`` with a sampling method's budget halved: the sanity check and the stability score run the
    method several times."""
    info = METHODS[name].info
    return {k: (v // 2 if k == info.budget and info.stochastic and isinstance(v, int) else v)
            for k, v in options.items()}


def method_function(name: str):
    """What the benchmark calls for ``name``: the registered method, except Integrated Gradients, which
    runs to its completeness bound (:func:`ig_to_completeness`)."""
    return ig_to_completeness if name == "integrated_gradients" else METHODS[name]


def _small(saliency: np.ndarray) -> np.ndarray:
    """Downsample a map for storage, scaled to max |value| 1 first: float16 flushes values below ~6e-8 to
    zero, and the sanity check's late stages give maps of 1e-7 to 1e-12 whose shape must survive
    (notebook 08 draws every map normalised, so the scale is not needed)."""
    small = base.resize_map(saliency, (STORED_MAP_SIZE, STORED_MAP_SIZE)).astype(np.float64)
    peak = np.abs(small).max()
    return (small / peak if peak > 0 else small).astype(np.float16)


def check_random_twin(model, images: np.ndarray, log=print) -> dict:
    """The fully randomised twin's logit spread on ``images`` (:func:`utils.evaluation.metrics.random_logit_spread`),
    logged; raises when it is not usable (sd at most ``utils.evaluation.metrics.RANDOM_LOGIT_MIN_SD``)."""
    spread = metrics.random_logit_spread(model, images)
    log(f"  random twin: logit sd {spread['sd']:.3g} (trained {spread['trained_sd']:.3g}), over images "
        f"{spread['sd_over_images']:.3g} (trained {spread['trained_sd_over_images']:.3g}); "
        f"usable (sd > {metrics.RANDOM_LOGIT_MIN_SD}): {spread['usable']}")
    if not spread["usable"]:
        raise RuntimeError(f"The sanity check's random twin has no usable logit spread ({spread}); "
                           "its verdicts would mean nothing.")
    return {**spread, "images": len(images), "threshold": metrics.RANDOM_LOGIT_MIN_SD}


def warm_up(model, name: str, image: np.ndarray, target: int, options: dict) -> None:
    """Run ``name`` once, untimed: TensorFlow traces its graphs on the first call, a cost paid once per process
    (so once per Dask worker) that the timings must not include."""
    warm = {**options, "max_samples": IG_START_SAMPLES} if name == "integrated_gradients" else options
    method_function(name)(model, image, int(target), **warm)


def score_image(model, name: str, image: np.ndarray, target: int, options: dict, steps: int,
                mask: np.ndarray | None = None, keep: bool = False) -> dict:
    """One method on one image: the map (timed, model calls counted), its deletion and insertion AUCs and
    curve, pointing game and relevance mass against ``mask``, the stored small map when ``keep``, and
    Integrated Gradients' num_samples and gap. The same on a Dask worker as in this process."""
    ig_record: list = []
    run_options = {**options, "record": ig_record} if name == "integrated_gradients" else options
    with count_model_calls() as n:
        start = time.perf_counter()
        saliency = np.asarray(method_function(name)(model, image, int(target), **run_options), np.float32)
        seconds = time.perf_counter() - start
    curve = metrics.deletion_insertion(model, image, saliency, int(target), steps=steps)
    return {"seconds": seconds, "calls": n[0], "deletion_auc": curve["deletion_auc"],
            "insertion_auc": curve["insertion_auc"],
            "curve": {"fractions": curve["fractions"].tolist(), "deletion": curve["deletion_curve"].tolist(),
                      "insertion": curve["insertion_curve"].tolist()},
            "pointing_game": None if mask is None else metrics.pointing_game(saliency, mask),
            "relevance_mass": None if mask is None else metrics.relevance_mass(saliency, mask),
            "small": _small(saliency) if keep else None, "ig": ig_record[0] if ig_record else None}


KEPT_MAPS = 3  # maps of the first images stored per method (results/maps_<model>.npz)


def benchmark_model(model, images: np.ndarray, targets: np.ndarray, config, masks: np.ndarray | None = None,
                    sanity_model=None, log=print, client=None, model_name: str | None = None) -> dict:
    """Run every method on ``images``; return per-method medians, curves of image 0 and maps to store.

    With a Dask ``client`` (and the zoo name ``model_name`` of ``model``) the per-image work runs on its
    workers (:func:`score_on_cluster`: one task per image, every method); the sanity check and the stability
    score on image 0 run here, as do the medians and means, so the rows are those of the in-process run."""
    size = int(images.shape[1])
    rows, curves, maps, sanity_maps = [], {}, {}, {}
    names = sorted(config.methods or METHODS)
    all_options = {name: method_options(name, config, size) for name in names}
    if client is not None:
        per_image = score_on_cluster(client, model_name, model, images, targets, masks, all_options,
                                     config.metric_steps)
    for name in names:
        fn = method_function(name)
        options = all_options[name]
        if client is None:
            warm_up(model, name, images[0], int(targets[0]), options)  # tracing is paid once per session
            scores = [score_image(model, name, image, int(target), options, config.metric_steps,
                                  None if masks is None else masks[i], keep=i < KEPT_MAPS)
                      for i, (image, target) in enumerate(zip(images, targets))]
        else:
            scores = [image_scores[name] for image_scores in per_image]
        curves[name] = scores[0]["curve"]
        maps[name] = np.stack([s["small"] for s in scores[:KEPT_MAPS]])
        ig_record = [s["ig"] for s in scores if s["ig"] is not None]
        sanity_record = []
        small = reduced_options(name, options)  # the repeated runs below use half the samples
        sanity_options = {**small, "record": sanity_record} if name == "integrated_gradients" else small
        sanity = metrics.model_randomisation_check(fn, sanity_model or model, images[0], int(targets[0]),
                                                   stages=config.sanity_stages, options=sanity_options)
        sanity_maps[name] = np.stack([_small(m) for m in sanity["maps"]])
        stable = metrics.noise_stability(fn, model, images[0], int(targets[0]),
                                         num_samples=config.stability_repeats - 1 or 1, options=small)
        points = [s["pointing_game"] for s in scores if s["pointing_game"] is not None]
        masses = [s["relevance_mass"] for s in scores if s["relevance_mass"] is not None]
        row = {"method": name, "median_s": statistics.median(s["seconds"] for s in scores),
               "model_calls": int(statistics.median(s["calls"] for s in scores)),
               "deletion_auc": float(np.mean([s["deletion_auc"] for s in scores])),
               "insertion_auc": float(np.mean([s["insertion_auc"] for s in scores])),
               "pointing_game": float(np.mean(points)) if points else None,
               "relevance_mass": float(np.mean(masses)) if masses else None,
               "sanity_rank_correlation": float(sanity["spearman"][-1]),
               "sanity_rank_correlation_logits_only": float(sanity["spearman"][1]),
               "sanity_rank_correlation_abs": float(sanity["spearman_abs"][-1]),
               "sanity_verdict": sanity["verdict"],
               "sanity_final_map_constant": sanity["final_map_constant"],
               "sanity_ssim": float(sanity["ssim"][-1]),
               "sanity_curve": [float(v) for v in sanity["spearman"]],
               "sanity_abs_curve": [float(v) for v in sanity["spearman_abs"]],
               "stability": float(stable["spearman"]), "options": options}
        if ig_record:
            row["ig_steps"] = [r["num_samples"] for r in ig_record]  # IG's num_samples = its path steps
            row["ig_gaps"] = [r["gap"] for r in ig_record]
            row["ig_sanity_steps"] = [r["num_samples"] for r in sanity_record]
            row["ig_sanity_gaps"] = [r["gap"] for r in sanity_record]
        rows.append(row)
        log(f"  {name}: {row['median_s']:.2f} s, del {row['deletion_auc']:.3f}, ins {row['insertion_auc']:.3f}, "
            f"sanity |rho| {row['sanity_rank_correlation_abs']:.2f} ({row['sanity_verdict']}), "
            f"stability {row['stability']:.2f}" + (f", IG steps {row['ig_steps']} gaps "
                                                   f"{[round(g, 3) for g in row['ig_gaps']]}" if ig_record else ""))
    return {"methods": rows, "curves": curves, "_maps": maps, "_sanity_maps": sanity_maps}


# --------------------------------------------------------------------------- the per-image work on Dask
@dataclass(frozen=True)
class ImageScoreTask:
    """One image's work for a Dask worker: the zoo model by name (with the fingerprint and method code the
    client expects, :func:`utils.scheduling.worker_model`), the image, its target and cue mask, and each
    method's options."""

    model: str
    model_key: str
    method_codes: Mapping[str, str]
    image: np.ndarray
    target: int
    mask: np.ndarray | None
    options: Mapping[str, dict]
    steps: int
    keep: bool


_WARMED: set[tuple[str, str, str]] = set()  # (model, method, options) warmed up in this (worker) process


def score_image_task(task: ImageScoreTask) -> dict[str, dict]:
    """The Dask task of one image: :func:`score_image` for every method, on the worker's model (loaded once per
    worker), each method warmed up once per worker before its first timed run."""
    from utils.scheduling import worker_model

    model = worker_model(task.model, task.model_key, task.method_codes)[0]
    out = {}
    for name, options in task.options.items():
        key = (task.model, name, repr(sorted(options.items())))
        if key not in _WARMED:
            warm_up(model, name, task.image, task.target, options)
            _WARMED.add(key)
        out[name] = score_image(model, name, task.image, task.target, options, task.steps, task.mask, task.keep)
    return out


def score_on_cluster(client, model_name: str, model, images: np.ndarray, targets: np.ndarray,
                     masks: np.ndarray | None, options: Mapping[str, dict], steps: int) -> list[dict[str, dict]]:
    """Every image's :func:`score_image_task` on ``client``'s workers, returned in image order; at most
    ``utils.scheduling.TASKS_PER_THREAD`` tasks per worker thread in flight, so a large data set is not
    shipped to the cluster at once."""
    import uuid

    from distributed import as_completed

    from utils.pipeline import method_version, model_fingerprint
    from utils.scheduling import TASKS_PER_THREAD

    if not model_name:
        raise ValueError("benchmark_model on a Dask client needs model_name (the zoo name its workers load)")
    model_key = model_fingerprint(model_name, model)
    codes = {name: method_version(name) for name in options}
    window = max(1, TASKS_PER_THREAD * max(1, sum(client.nthreads().values())))
    results: list = [None] * len(images)
    index, running = {}, as_completed()
    try:
        for i, (image, target) in enumerate(zip(images, targets)):
            task = ImageScoreTask(model=model_name, model_key=model_key, method_codes=codes, image=image,
                                  target=int(target), mask=None if masks is None else masks[i],
                                  options=dict(options), steps=steps, keep=i < KEPT_MAPS)
            future = client.submit(score_image_task, task, key=f"score-{model_name}-{i}-{uuid.uuid4().hex[:8]}",
                                   pure=False)
            index[future.key] = (i, future)
            running.add(future)
            while running.count() >= window:
                future = next(running)
                results[index.pop(future.key)[0]] = future.result()
        for future in running:
            results[index.pop(future.key)[0]] = future.result()
    except BaseException:
        client.cancel([future for _, future in index.values()])
        raise
    return results


def _store_maps(block: dict, out_dir: Path, key: str) -> None:
    """Move the maps out of the JSON block into results/maps_<key>.npz (notebook 08 draws them)."""
    maps, sanity = block.pop("_maps"), block.pop("_sanity_maps")
    arrays = {f"map/{k}": v for k, v in maps.items()}
    arrays.update({f"sanity/{k}": v for k, v in sanity.items()})
    np.savez_compressed(Path(out_dir) / f"maps_{key}.npz", **arrays)
    block["maps_file"] = f"maps_{key}.npz"


def photo_masks(names, targets, size: int = 224) -> list[np.ndarray | None]:
    """The pointing game's ground truth on bundled photos: each photo's object mask for the class it is explained
    for (``data/images/boxes.csv``, :func:`utils.data.object_mask`), or None when the photo has no box of that
    class (the model's top-1 class is not a boxed object), so that photo gets no pointing game."""
    masks = []
    for name, target in zip(names, targets):
        file = sample_images()[name]
        masks.append(object_mask(file, size, int(target)) if object_boxes(file, int(target)) else None)
    return masks


def photo_benchmark(config, out_dir: Path, log=print, client=None) -> dict:
    """The ImageNet model on the first ``config.photos`` bundled photos (each explained for its top-1 class);
    the per-image work on ``client``'s Dask workers when given (:func:`benchmark_model`)."""
    model = load_model()
    names = list(sample_images())
    chosen = [n for n in ("coffee", "chelsea") if n in names]
    chosen += [n for n in names if n not in chosen][: max(0, config.photos - len(chosen))]
    chosen = chosen[: config.photos]
    images = np.stack([load_image(sample_images()[n]) for n in chosen])
    targets = base.predict(model, images).argmax(axis=1)
    twin_photos = np.stack([load_image(sample_images()[n]) for n in TWIN_CHECK_PHOTOS])
    twin = check_random_twin("efficientnet_lite0", twin_photos, log=log)
    masks = photo_masks(chosen, targets, int(images.shape[1]))
    block = benchmark_model(model, images, targets, config, masks=masks, sanity_model="efficientnet_lite0", log=log,
                            client=client, model_name="efficientnet_lite0")
    block["random_twin"] = {**twin, "photos": list(TWIN_CHECK_PHOTOS)}
    boxed = [name for name, mask in zip(chosen, masks) if mask is not None]
    block.update({"images": len(chosen), "photos": chosen, "targets": [int(t) for t in targets],
                  "boxed_photos": boxed,
                  "note": "each photo explained for its top-1 class; pointing game and relevance mass against the "
                          "object boxes of that class (data/images/boxes.csv) on the photos that have one; sanity "
                          "check and stability on the first photo"})
    _store_maps(block, out_dir, "efficientnet_lite0")
    return block


def cue_benchmark(config, out_dir: Path, log=print, client=None) -> dict:
    """The planted-cue models on their test images, explained for the true class; scored against the cue mask;
    the per-image work on ``client``'s Dask workers when given (:func:`benchmark_model`)."""
    from utils.data.cue import make_cue_images
    from utils.models.cue import training_record

    data = make_cue_images(config.cue_images, seed=training_record()["test_seed"])
    out = {}
    for name in config.cue_models:
        try:
            model = load_model(name)
        except (OSError, ValueError, RuntimeError) as err:
            out[name] = {"unavailable": str(err).splitlines()[0]}
            log(f"  {name}: unavailable ({out[name]['unavailable']})")
            continue
        log(f" {name}")
        probs = base.predict(model, data.images)
        twin = check_random_twin(model, data.images, log=log)
        block = benchmark_model(model, data.images, data.labels, config, masks=data.masks, log=log,
                                client=client, model_name=name)
        block["random_twin"] = twin
        block.update({"images": len(data), "accuracy": float((probs.argmax(1) == data.labels).mean()),
                      "note": "explained for the true class; pointing game / relevance mass against the cue's mask"})
        _store_maps(block, out_dir, name)
        out[name] = block
    return out
