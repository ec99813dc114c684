"""Explain a whole folder of images: predictions, maps, overlays, a CSV summary and an HTML page.

Introduced in notebook 09 (LIME in practice). The second source proposal asked for "a pipeline that
predicts all images in a folder and saves the explanations to compare them"; this is it::

    python -m utils.pipeline INPUT_DIR --model efficientnet_lite0 --methods grad_cam,lime --out OUT_DIR

or, from Python, :func:`explain_folder`. ``--scheduler local:2`` (or a Dask scheduler address) runs the
per-image work on Dask worker processes (:mod:`utils.scheduling`) and writes the same files. For every image it
writes one folder under ``OUT_DIR``
(``photo.jpg`` -> ``photo_jpg``; a name with other characters, capitals or a subfolder gets a short
hash of its relative path, ``My Photo.JPG`` -> ``My_Photo_JPG-1a2b3c4d5e6f``, so two files never share
a folder) holding one overlay ``<method>.png`` and one raw map ``<method>.npy`` per method, plus
``input.png`` (the crop the model saw) and ``record.json`` (what was computed, with which settings,
and the sha256 of every output). ``OUT_DIR/summary.csv`` holds one row per file (top-5 classes,
seconds per method, deletion/insertion AUC) and ``OUT_DIR/index.html`` shows the methods side by side.

It never lies and never loses:

* every file is written under a temporary name and renamed into place, and a method's entry in
  ``record.json`` is written only once its outputs are complete. The entry is keyed on everything
  that changes the map (model and its weights, method, options, seed, target, the code of the
  method, the input file's sha256, the loading code), and a rerun reuses it only if that key
  matches and the files still have the recorded sha256: a cached map is always the one asked for;
* ``OUT_DIR`` must be new, empty, or an earlier output of this pipeline (its ``index.html`` says so);
  it may not be, or contain, the input folder; a per-image folder holding files the pipeline did
  not write is left alone and its image skipped;
* a file that is not an image, or a bad one (damaged, unreadable, a decompression bomb), is skipped
  and listed; subfolders are processed with ``recursive=True`` (``--recursive``) or listed as skipped;
* ``summary.csv`` and ``index.html`` describe only finished runs: while a run is going (or after
  it was interrupted) ``index.html`` says so and there is no ``summary.csv``; Ctrl-C stops with one
  line saying how to resume. Spreadsheet formulas in CSV cells (``= + - @``) are neutralised.
"""
from __future__ import annotations

import argparse
import csv
import errno
import hashlib
import html
import inspect
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from utils.data import IMAGE_SUFFIXES, load_image

RECORD_FILE = "record.json"
SUMMARY_FILE = "summary.csv"
INDEX_FILE = "index.html"
RECORD_FORMAT = 2
GENERATOR = '<meta name="generator" content="utils.pipeline">'  # marks an index.html (and its folder) as ours
TMP_PREFIX = ".tmp-"

# Deletion/insertion curves in the summary use a few coarse steps: cheap, and enough to rank maps.
METRIC_STEPS = 16
# Keyword arguments of the explainers that the pipeline sets itself (progress) or that depend on the image
# (segments: a superpixel map computed for one image), so a folder-wide --option cannot set them.
NOT_OPTIONS = ("progress", "segments")


class PipelineError(ValueError):
    """A problem with the pipeline's inputs (folder, model, methods, target), told in one line."""


class PipelineInterrupted(KeyboardInterrupt):
    """Ctrl-C during a folder run; finished images are kept and reused by the next run."""


@dataclass
class FolderRun:
    """What :func:`explain_folder` did: one row per file, and the files it wrote."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary_csv: Path | None = None
    index_html: Path | None = None

    @property
    def counts(self) -> dict[str, int]:
        """How many files were explained now, reused from an earlier run, skipped or failed."""
        out = {"done": 0, "cached": 0, "skipped": 0, "failed": 0}
        for row in self.rows:
            out[row["status"]] = out.get(row["status"], 0) + 1
        return out


# --------------------------------------------------------------------------- files
def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, write: Callable[[Any], None]) -> str:
    """Write ``path`` through ``write(handle)`` under a temporary name, then rename it; return its sha256.

    An interrupted or failing write leaves the previous file (or none), never half a file.
    """
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        digest = _sha256_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def _save_npy(path: Path, array: np.ndarray) -> str:
    return _write_atomic(path, lambda handle: np.save(handle, array))


def _save_png(path: Path, array: np.ndarray) -> str:
    return _write_atomic(path, lambda handle: Image.fromarray(array).save(handle, format="PNG"))


def _save_text(path: Path, text: str) -> str:
    return _write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def os_error_message(err: OSError, path: Path | str | None = None,
                     hint: str = "choose a folder you can write to") -> str:
    """One line for a file-system error: what failed, where, and what to do (``hint``)."""
    where = path or err.filename or "the output folder"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device while writing {where}; free some space and run the same command again."
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write to {where} (permission denied or read-only); {hint}."
    if err.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{where} is a file (or lies under one), not a folder; choose a folder."
    return f"cannot write {where} ({err.strerror or err})."


# --------------------------------------------------------------------------- inputs
def list_files(folder: str | Path, recursive: bool = False, exclude: Path | None = None
               ) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Every visible regular file under ``folder`` as ``(path, relative posix name)``, sorted, and the
    entries that were not processed as ``(name, reason)``: subfolders (``name/``; all of them unless
    ``recursive``; links to folders are never followed) and what is not a regular file (a broken
    link, a pipe). ``exclude`` (the output folder, when it lies inside) is left out.

    Files that are not images are listed too: the pipeline reports them as skipped instead of
    silently ignoring them. Raises :class:`PipelineError` for a missing or empty folder.
    """
    folder = Path(folder)
    if not folder.exists():
        raise PipelineError(f"Input folder {folder} does not exist. Pass a folder of images (JPEG, PNG, ...).")
    if not folder.is_dir():
        raise PipelineError(f"{folder} is a file, not a folder. Pass the folder that holds the images.")
    excluded = exclude.resolve() if exclude is not None else None
    files: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = sorted(current.iterdir())
        except OSError as err:
            if current == folder:
                raise PipelineError(f"Cannot read the input folder {folder} ({err.strerror or err}).") from None
            skipped.append((current.relative_to(folder).as_posix() + "/", f"cannot be read ({err.strerror or err})"))
            continue
        for path in entries:
            rel = path.relative_to(folder).as_posix()
            if path.name.startswith(".") or path.resolve() == excluded:
                continue
            if path.is_dir() and path.is_symlink():
                skipped.append((rel + "/", "a link to a folder: not followed"))
            elif path.is_dir() and recursive:
                pending.append(path)
            elif path.is_dir():
                skipped.append((rel + "/", "a subfolder: not processed (pass --recursive, or recursive=True, "
                                           "to include subfolders)"))
            elif path.is_file():
                files.append((path, rel))
            else:
                skipped.append((rel, "not a regular file (a link to nothing, a pipe or a device)"))
    if not files and not skipped:
        raise PipelineError(f"Input folder {folder} is empty: put some images (JPEG, PNG, ...) in it.")
    return sorted(files, key=lambda item: item[1]), sorted(skipped)


_PLAIN_NAME = re.compile(r"[a-z0-9_-]+\.[a-z0-9]+")


def output_name(rel: str | Path) -> str:
    """Folder name for one input file, stable and unique per relative path.

    A plain lower-case name at the top of the folder keeps a readable name (``cat.jpg`` ->
    ``cat_jpg``). Any other name (spaces, ``+``, capitals, several dots, a subfolder) gets its
    characters made safe plus 12 hex digits of the sha256 of its relative path, so ``cat 1.png``,
    ``cat+1.png`` and ``cat_1.png`` land in three folders, also on a case-insensitive disk.
    """
    rel = PurePosixPath(Path(rel).as_posix())
    safe = "".join(c if c.isalnum() and c.isascii() or c in "-_" else "_" for c in rel.as_posix())[:80]
    if len(rel.parts) == 1 and len(rel.name) <= 80 and _PLAIN_NAME.fullmatch(rel.name):
        return safe
    return f"{safe}-{hashlib.sha256(rel.as_posix().encode('utf-8')).hexdigest()[:12]}"


def parse_methods(methods: str | Sequence[str]) -> list[str]:
    """``"grad_cam,lime"`` or ``["grad_cam", "lime"]`` -> checked list of registered method names."""
    from utils.explain import METHODS

    if not isinstance(methods, (str, list, tuple)):
        raise PipelineError(f"methods must be a comma-separated string or a list of names, got {methods!r}.")
    names = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else [str(m).strip() for m in methods]
    names = [m for m in names if m]
    if not names:
        raise PipelineError(f"No method given. Choose from: {', '.join(sorted(METHODS))}.")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise PipelineError(f"Unknown method(s) {', '.join(unknown)}. Choose from: {', '.join(sorted(METHODS))}.")
    return list(dict.fromkeys(names))


def parse_target(target: str | int) -> str | int:
    """``"top1"`` (explain the predicted class) or a class index (an int or a digit string)."""
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return int(target)
    text = str(target).strip().lower()
    if text == "top1":
        return "top1"
    if text.isdigit():
        return int(text)
    raise PipelineError(f"--target must be 'top1' or a class index such as 281, got {target!r}.")


def check_seed(seed) -> int:
    """The seed of the sampling methods: a whole number >= 0."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise PipelineError(f"--seed must be a whole number >= 0 (e.g. 0), got {seed!r}.")
    return int(seed)


def accepted_options(name: str) -> list[str]:
    """The keyword options method ``name`` takes in a folder run (its registered options, ``METHODS[name].info``)."""
    from utils.explain import METHODS

    return [option for option in METHODS[name].info.options if option not in NOT_OPTIONS]


def cheap_options(name: str) -> dict[str, Any]:
    """Settings that keep a folder run affordable on a laptop CPU: the method's registered quick options
    (a user's options override them)."""
    from utils.explain import METHODS

    return dict(METHODS[name].info.quick)


def check_options(options: Mapping[str, Mapping[str, Any]] | None, names: Sequence[str]) -> dict[str, dict]:
    """``options`` as ``{method: {option: value}}``, every method among ``names`` and every option one it takes."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise PipelineError(f"options must map a method to its options, e.g. {{'lime': {{'num_samples': 1000}}}}, "
                            f"got {options!r:.80}.")
    checked: dict[str, dict] = {}
    for method, given in options.items():
        if method not in names:
            raise PipelineError(f"--option {method}.*: {method!r} is not among the methods run ({', '.join(names)}); "
                                "add it to --methods or drop the option.")
        if not isinstance(given, Mapping):
            raise PipelineError(f"options[{method!r}] must be a mapping of option names to values, got {given!r:.80}.")
        takes = accepted_options(method)
        for option in given:
            if option not in takes:
                listed = ", ".join(takes) if takes else "none"
                raise PipelineError(f"{method} does not take the option {option!r}; the options it takes: {listed}.")
        checked[method] = dict(given)
    return checked


def load_pipeline_model(name: str):
    """:func:`utils.models.load_model`, with every failure turned into a one-line :class:`PipelineError`."""
    from utils.models import load_model

    try:
        return load_model(name)
    except (ValueError, RuntimeError, OSError) as err:
        raise PipelineError(str(err).splitlines()[0] if str(err) else f"Cannot load model {name!r}.") from err


def class_names(model) -> list[str]:
    """Class names for ``model``'s outputs: ImageNet's for 1000 classes, the model's own if it
    carries ``class_names``, else ``class 0``, ``class 1``, ..."""
    from utils.explain.base import num_classes
    from utils.models import imagenet_labels

    n = num_classes(model)
    own = getattr(model, "class_names", None) or model.__dict__.get("class_names")
    if own is not None and len(own) == n:
        return [str(c) for c in own]
    if n == 1000:
        return imagenet_labels()
    return [f"class {i}" for i in range(n)]


# --------------------------------------------------------------------------- the output folder
def _is_pipeline_output(folder: Path) -> bool:
    """True if ``folder/index.html`` was written by this pipeline (or by its first version, without the tag)."""
    try:
        text = (folder / INDEX_FILE).read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return False
    return GENERATOR in text or ("<h1>Explanations by" in text and f'href="{SUMMARY_FILE}"' in text)


def check_output(out_dir: Path, input_dir: Path) -> None:
    """Refuse (one-line :class:`PipelineError`) an ``out_dir`` that is a file, is or contains the input
    folder, holds files this pipeline did not write, or cannot be written; it must be new, empty or an
    earlier output. Creates it (empty) if it does not exist."""
    out_dir = Path(out_dir)
    source, target = Path(input_dir).resolve(), out_dir.resolve()
    if target == source or source.is_relative_to(target):
        raise PipelineError(f"--out {out_dir} is (or contains) the input folder {input_dir}; "
                            "write the explanations to a new folder, e.g. --out explanations.")
    if out_dir.exists() and not out_dir.is_dir():
        raise PipelineError(f"--out {out_dir} is a file, not a folder; choose a new folder (it is created).")
    if out_dir.is_dir():
        try:
            visible = sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))
        except OSError as err:
            raise PipelineError(os_error_message(err, out_dir)) from None
        if visible and not _is_pipeline_output(out_dir):
            raise PipelineError(f"--out {out_dir} already holds files that utils.pipeline did not write "
                                f"(e.g. {visible[0]!r}); choose a new or empty folder so nothing of yours is "
                                "overwritten.")
    try:  # fail now, not after the model has loaded, if the folder cannot be created or written
        out_dir.mkdir(parents=True, exist_ok=True)
        _save_text(out_dir / f"{TMP_PREFIX}probe", "")
        (out_dir / f"{TMP_PREFIX}probe").unlink()
    except OSError as err:
        raise PipelineError(os_error_message(err, out_dir)) from None


def mark_in_progress(out_dir: Path) -> None:
    """Create ``out_dir``, remove the last run's summary and say on ``index.html`` that a run is going."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / SUMMARY_FILE).unlink(missing_ok=True)  # only a finished run has a summary
        _save_text(out_dir / INDEX_FILE, _page("Explanations: run in progress",
                                               "<p>This run has not finished (or was interrupted). Run the same "
                                               "command again to resume: finished images are reused.</p>"))
    except OSError as err:
        raise PipelineError(os_error_message(err, out_dir)) from None


def _own_names() -> set[str]:
    from utils.explain import METHODS

    return {"input.png", RECORD_FILE} | {f"{m}{ext}" for m in METHODS for ext in (".npy", ".png")}


def _foreign_files(folder: Path) -> list[str]:
    """Files in an image's output folder that the pipeline would never write (a user's own)."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        return [folder.name]
    own = _own_names()
    return sorted(p.name for p in folder.iterdir() if p.name not in own and not p.name.startswith(TMP_PREFIX))


# --------------------------------------------------------------------------- what a result depends on
def _canonical(value):
    """A JSON-able, order-independent form of an option value (arrays by their bytes' sha256)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"array": str(data.dtype), "shape": list(data.shape),
                "sha256": hashlib.sha256(data.tobytes()).hexdigest()}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(_canonical(value), sort_keys=True).encode()).hexdigest()[:32]


def _source_digest(*objects) -> str:
    """A digest of the source code of modules or functions (their name where no source is available)."""
    digest = hashlib.sha256()
    for obj in objects:
        try:
            digest.update(inspect.getsource(obj).encode())
        except (OSError, TypeError):  # defined interactively, or built in
            digest.update(repr(obj).encode())
    return digest.hexdigest()[:16]


EXPLAINER_PACKAGES = ("utils.explain.", "utils.lime.")  # where the explainers and the helpers they share live


def method_modules(name: str) -> list:
    """The modules behind method ``name``, sorted by name: its own module, ``utils.explain.base`` and every module
    of :data:`EXPLAINER_PACKAGES` they use, directly or through one another (LIME for images in ``utils.lime``
    uses the LIME core there and the perturbation engine and baselines in ``utils.explain``)."""
    from utils.explain import METHODS, base

    module = inspect.getmodule(METHODS[name])
    used, todo = {}, [base] + ([module] if module is not None else [])
    while todo:
        current = todo.pop()
        if current.__name__ in used:
            continue
        used[current.__name__] = current
        for value in vars(current).values():
            other = value if inspect.ismodule(value) else inspect.getmodule(value)
            if other is not None and other.__name__.startswith(EXPLAINER_PACKAGES) and other.__name__ not in used:
                todo.append(other)
    return [used[k] for k in sorted(used)]


def method_version(name: str) -> str:
    """A digest of the code behind method ``name`` (:func:`method_modules`; the function itself when it has no
    module). Editing any of them invalidates the cached maps of ``name``."""
    from utils.explain import METHODS, base

    if inspect.getmodule(METHODS[name]) is None:
        return _source_digest(base, METHODS[name])
    return _source_digest(*method_modules(name))


def model_fingerprint(name: str, model) -> str:
    """The model's name, a digest of its logits layer's weights and of the zoo's code."""
    from utils import models

    try:
        weights = model.get_layer("logits").get_weights()
    except ValueError:
        weights = [w.numpy() for w in model.weights[-2:]]
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in weights)).hexdigest()[:16]
    return f"{name}:{digest}:{_source_digest(models)}"


@dataclass
class _Run:
    """Everything one folder run shares between images."""

    net: Any
    model_key: str
    methods: list[str]
    options: dict[str, dict]
    target: str | int
    seed: int
    cheap: bool
    metrics: bool
    labels: list[str]
    out_dir: Path
    size: int
    input_code: str
    metric_code: str
    method_codes: dict[str, str]
    log: Callable[[str], None]

    def method_key(self, name: str, input_key: str, target: int) -> str:
        return _digest({"format": RECORD_FORMAT, "model": self.model_key, "input": input_key, "target": target,
                        "method": name, "options": method_options(name, self.options, self.seed, self.cheap),
                        "code": self.method_codes[name], "metrics": self.metric_code if self.metrics else "off"})


def method_options(name: str, options: Mapping[str, Mapping[str, Any]] | None, seed: int,
                   cheap: bool = True) -> dict[str, Any]:
    """Keyword options for method ``name``: its quick options (if ``cheap``), the user's options, and ``seed``
    if it samples (``METHODS[name].info.stochastic``)."""
    from utils.explain import METHODS

    chosen = cheap_options(name) if cheap else {}
    chosen.update((options or {}).get(name, {}))
    if METHODS[name].info.stochastic:
        chosen.setdefault("seed", seed)
    return chosen


# --------------------------------------------------------------------------- one image
# One image goes through three steps so that the in-process loop and a Dask cluster (utils.scheduling)
# share every line that decides a result: prepare_file (reads the file and its record), the pure
# computations predict_top5 / compute_method (no disk: they run in this process or on a worker), and
# write_image (the only writer of an image's files, always in this process).
@dataclass(frozen=True)
class MethodResult:
    """One method's map of one image, computed without touching the disk, and its timing and metrics."""

    saliency: np.ndarray | None  # (H, W) float32; None when the method refused an option value
    seconds: float
    metrics: dict[str, Any]
    error: str = ""  # "method: reason" when the method refused an option value


@dataclass
class ImageJob:
    """One image that needs the model: where its outputs go, its pixels, its record so far, and its
    prediction when an intact one from an earlier run can be reused (else None)."""

    rel: str
    name: str
    folder: Path
    image: np.ndarray
    input_key: str
    record: dict
    prediction: dict | None


def metric_values(net, image: np.ndarray, saliency: np.ndarray, target: int) -> dict[str, Any]:
    """Deletion/insertion AUC (:func:`utils.evaluation.metrics.deletion_insertion`, :data:`METRIC_STEPS` steps)."""
    from utils.evaluation.metrics import deletion_insertion

    try:
        curves = deletion_insertion(net, image, saliency, target, steps=METRIC_STEPS)
    except ValueError as err:  # a metric failing (e.g. a constant map) must not lose the map just computed
        return {"metric_error": str(err).splitlines()[0][:200]}
    return {"deletion_auc": round(float(curves["deletion_auc"]), 4),
            "insertion_auc": round(float(curves["insertion_auc"]), 4)}


def predict_top5(net, labels: Sequence[str], image: np.ndarray) -> dict:
    """The model's five most probable classes for ``image`` as ``{"top5": [{index, label, prob}, ...]}``."""
    from utils.explain.base import predict

    probs = predict(net, image[None])[0]
    order = np.argsort(probs)[::-1][:5]
    return {"top5": [{"index": int(i), "label": labels[i], "prob": float(probs[i])} for i in order]}


def image_target(target: str | int, prediction: Mapping[str, Any]) -> int:
    """The class explained for one image: its top-1 class for ``"top1"``, else the given class index."""
    return int(prediction["top5"][0]["index"]) if target == "top1" else int(target)


def compute_method(net, name: str, image: np.ndarray, target: int, options: Mapping[str, Any],
                   metrics: bool = True) -> MethodResult:
    """Run method ``name`` with ``options`` (from :func:`method_options`) and score its map; write nothing.

    The same inputs and seed give the same map wherever it runs (this process or a Dask worker). An
    option value the method refuses (ValueError/TypeError) comes back as ``error``: that image fails,
    the run goes on.
    """
    from utils.explain import METHODS

    start = time.perf_counter()
    try:
        saliency = np.asarray(METHODS[name](net, image, target, **options), dtype=np.float32)
    except (ValueError, TypeError) as err:
        return MethodResult(None, 0.0, {}, f"{name}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    seconds = time.perf_counter() - start
    return MethodResult(saliency, seconds, metric_values(net, image, saliency, target) if metrics else {})


def _read_record(folder: Path, rel: str, input_key: str) -> dict:
    """The image's record if it is of this format, for this file and this input; else a fresh one."""
    fresh = {"format": RECORD_FORMAT, "file": rel, "input": input_key, "prediction": None, "methods": {}}
    try:
        record = json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return fresh
    if not isinstance(record, dict) or (record.get("format"), record.get("file"), record.get("input")) != (
            RECORD_FORMAT, rel, input_key) or not isinstance(record.get("methods"), dict):
        return fresh
    return record


def _outputs_intact(folder: Path, files: Mapping[str, str]) -> bool:
    """True if every recorded output exists with its recorded sha256 (not edited, not torn)."""
    try:
        return bool(files) and all(_sha256_file(folder / name) == digest for name, digest in files.items())
    except OSError:
        return False


def _write_method(run: _Run, name: str, image: np.ndarray, folder: Path, key: str, result: MethodResult) -> dict:
    """Write one method's map and overlay atomically; return its record entry."""
    from utils.explain import METHODS
    from utils.plot import overlay_rgb

    signed = METHODS[name].info.signed
    files = {f"{name}.npy": _save_npy(folder / f"{name}.npy", result.saliency),
             f"{name}.png": _save_png(folder / f"{name}.png", overlay_rgb(image, result.saliency, signed=signed))}
    entry = {"key": key, "options": _canonical(method_options(name, run.options, run.seed, run.cheap)),
             "seconds": round(result.seconds, 4), "signed": signed, "files": files}
    entry.update(result.metrics)
    return entry


def _skip(rel: str, reason: str, log: Callable[[str], None]) -> dict[str, Any]:
    log(f"skipped {rel}: {reason}.")
    return {"file": rel, "status": "skipped", "reason": reason}


def _load(path: Path, rel: str, run: _Run) -> tuple[np.ndarray, str]:
    """The model-sized image and its input key (file sha256 + loading code); ValueError naming ``rel``."""
    try:
        input_key = f"{_sha256_file(path)}:{run.input_code}:{run.size}"
    except OSError as err:
        raise ValueError(f"{rel} cannot be read ({err.strerror or err})") from None
    try:
        image = load_image(path, size=run.size)
    except ValueError as err:
        raise ValueError(str(err).replace(str(path), rel).splitlines()[0]) from None
    except Exception as err:  # noqa: BLE001 - a bad image of any kind is skipped, never aborts the folder
        raise ValueError(f"{rel} could not be loaded ({type(err).__name__}: {str(err)[:200]})") from None
    return image, input_key


def prepare_file(path: Path, rel: str, run: _Run) -> ImageJob | dict[str, Any]:
    """Check and load one file and read its record: an :class:`ImageJob`, or the row of a skipped file."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return _skip(rel, f"not an image file (suffix {path.suffix or 'none'})", run.log)
    try:
        image, input_key = _load(path, rel, run)
    except ValueError as err:
        return _skip(rel, str(err).rstrip("."), run.log)
    name = output_name(rel)
    folder = run.out_dir / name
    foreign = _foreign_files(folder)
    if foreign:
        return _skip(rel, f"its output folder {name} holds files the pipeline did not write ({foreign[0]}); "
                          "move them away", run.log)
    folder.mkdir(exist_ok=True)
    for stale in folder.glob(TMP_PREFIX + "*"):  # left by a process that was killed mid-write
        stale.unlink(missing_ok=True)
    record = _read_record(folder, rel, input_key)
    prediction = record.get("prediction")
    if not (isinstance(prediction, dict) and prediction.get("model") == run.model_key
            and _outputs_intact(folder, {"input.png": prediction.get("input_png", "")})):
        record, prediction = {**record, "methods": {}}, None  # a new model or input: nothing earlier applies
    return ImageJob(rel=rel, name=name, folder=folder, image=image, input_key=input_key, record=record,
                    prediction=prediction)


def pending_methods(run: _Run, job: ImageJob, target: int) -> list[str]:
    """The methods of ``run`` whose map of this image is not on disk intact with the same key."""
    todo = []
    for method in run.methods:
        entry = job.record["methods"].get(method)
        key = run.method_key(method, job.input_key, target)
        if not (isinstance(entry, dict) and entry.get("key") == key
                and _outputs_intact(job.folder, entry.get("files", {}))):
            todo.append(method)
    return todo


def write_image(run: _Run, job: ImageJob, prediction: dict, result: Callable[[str, int], MethodResult]
                ) -> dict[str, Any]:
    """Write one image's outputs (input.png, then each pending method's map, overlay and record entry) and
    return its summary row. ``prediction`` is the reused or a fresh :func:`predict_top5`; ``result(method,
    target)`` gives a pending method's :class:`MethodResult` (computed now, or returned by a worker).

    The only writer of an image's files, for both engines: each method's entry in ``record.json`` is
    written once its files are complete, so an interruption anywhere loses at most the method being written.
    """
    from utils.plot import as_uint8

    folder, record = job.folder, job.record
    if job.prediction is None:
        prediction = {**prediction, "model": run.model_key,
                      "input_png": _save_png(folder / "input.png", as_uint8(job.image))}
        record["prediction"] = prediction
    top5 = prediction["top5"]
    target = image_target(run.target, prediction)
    row: dict[str, Any] = {"file": job.rel, "status": "cached", "reason": "", "folder": job.name, "target": target,
                           "target_label": run.labels[target]}
    failures = []
    for method in pending_methods(run, job, target):
        if record["methods"].pop(method, None) is not None:  # invalidate before its files are overwritten
            _save_text(folder / RECORD_FILE, json.dumps(record, indent=1))
        computed = result(method, target)
        if computed.error:
            failures.append(computed.error)
            continue
        key = run.method_key(method, job.input_key, target)
        record["methods"][method] = _write_method(run, method, job.image, folder, key, computed)
        _save_text(folder / RECORD_FILE, json.dumps(record, indent=1))  # committed: its outputs are complete
        row["status"] = "done"
    if failures:
        row.update(status="failed", reason="; ".join(failures))
        run.log(f"failed {job.rel}: {row['reason']}")
    return {**row, **_record_to_row(top5, record["methods"], run.methods)}


def _process_file(path: Path, rel: str, run: _Run) -> dict[str, Any]:
    """Explain one file in this process with every method (reusing intact results of the same key); its row."""
    job = prepare_file(path, rel, run)
    if not isinstance(job, ImageJob):
        return job
    prediction = job.prediction or predict_top5(run.net, run.labels, job.image)

    def result(method: str, target: int) -> MethodResult:
        options = method_options(method, run.options, run.seed, run.cheap)
        return compute_method(run.net, method, job.image, target, options, run.metrics)

    return write_image(run, job, prediction, result)


def _record_to_row(top5: Sequence[dict], entries: Mapping[str, dict], names: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for k, entry in enumerate(top5, start=1):
        row[f"top{k}"] = entry["label"]
        row[f"top{k}_prob"] = round(entry["prob"], 4)
    for name in names:
        entry = entries.get(name, {})
        row[f"{name}_seconds"] = entry.get("seconds")
        for key in ("deletion_auc", "insertion_auc"):
            if key in entry:
                row[f"{name}_{key}"] = entry[key]
    return row


# --------------------------------------------------------------------------- the folder
def explain_folder(input_dir: str | Path, out_dir: str | Path, methods: str | Sequence[str] = ("grad_cam",),
                   model: str = "efficientnet_lite0", target: str | int = "top1", seed: int = 0,
                   options: Mapping[str, Mapping[str, Any]] | None = None, cheap: bool = True,
                   metrics: bool = True, progress: bool = True, log: Callable[[str], None] | None = print,
                   recursive: bool = False, scheduler: str = "local") -> list[dict[str, Any]]:
    """Explain every image of ``input_dir`` with ``methods``; write maps, overlays, CSV and HTML to ``out_dir``.

    Returns the summary rows (one dict per file, as in ``summary.csv``): ``status`` is ``"done"``
    (explained now), ``"cached"`` (every map already on disk from an earlier run with the same
    settings, input and code), ``"skipped"`` (not an image, broken, or a subfolder: ``reason`` says
    why) or ``"failed"`` (a method raised; ``reason`` says which and why; the others' maps are kept).
    ``options`` maps a method to keyword options, e.g. ``{"lime": {"num_samples": 1000}}``; with
    ``cheap=True`` the affordable defaults of :func:`cheap_options` apply first. ``recursive=True``
    also explains the images in subfolders. ``scheduler`` chooses the engine (:mod:`utils.scheduling`):
    ``"local"`` (this process), ``"local:N"`` (a Dask cluster of N worker processes on this machine) or
    ``"tcp://host:8786"`` (an existing Dask cluster); the outputs are the same files either way.
    Raises :class:`PipelineError` (a ValueError) with one
    line for a bad folder, output folder, model, method, option, target, seed or scheduler, and
    :class:`PipelineInterrupted` (a KeyboardInterrupt) on Ctrl-C.
    """
    from utils.explain import base
    from utils.explain.base import progress as progress_bar

    if log is print and progress:
        from tqdm.auto import tqdm

        log = tqdm.write  # prints above the progress bar instead of breaking it
    log = log or (lambda message: None)
    out_dir = Path(out_dir)
    files, folders = list_files(input_dir, recursive=recursive, exclude=out_dir)
    names = parse_methods(methods)
    chosen = check_options(options, names)
    target, seed = parse_target(target), check_seed(seed)
    from utils.scheduling import parse_scheduler

    engine = parse_scheduler(scheduler)
    check_output(out_dir, Path(input_dir))
    folder_names = {rel: output_name(rel) for _, rel in files}
    if len({n.casefold() for n in folder_names.values()}) != len(folder_names):
        raise PipelineError("two input files map to the same output folder name; rename one of them.")
    net = load_pipeline_model(model)
    labels = class_names(net)
    if isinstance(target, int) and not 0 <= target < len(labels):
        raise PipelineError(f"--target {target} is outside the model's classes 0..{len(labels) - 1}.")
    from utils import data
    from utils.evaluation import metrics as metrics_module

    run = _Run(net=net, model_key=model_fingerprint(model, net), methods=names, options=chosen, target=target,
               seed=seed, cheap=cheap, metrics=metrics, labels=labels, out_dir=out_dir,
               size=int(net.inputs[0].shape[1]), input_code=_source_digest(data),
               metric_code=f"{_source_digest(metrics_module)}:{METRIC_STEPS}",
               method_codes={m: method_version(m) for m in names}, log=log)
    rows: list[dict[str, Any]] = [{"file": f, "status": "skipped", "reason": why} for f, why in folders]
    mark_in_progress(out_dir)
    previous_progress = base.SHOW_PROGRESS
    base.SHOW_PROGRESS = False  # the methods' own bars would clutter the folder's bar
    try:
        if engine.kind == "local":
            for path, rel in progress_bar(files, total=len(files), desc="images", enabled=progress):
                rows.append(_process_file(path, rel, run))
        else:
            from utils.scheduling import explain_files

            explain_files(files, run, engine, rows, model=model, progress=progress)
    except KeyboardInterrupt:
        finished = sum(r["status"] in ("done", "cached") for r in rows)
        raise PipelineInterrupted(f"interrupted after {finished} of {len(files)} file(s); run the same command "
                                  "again to resume (finished images are reused, not redone).") from None
    except OSError as err:
        raise PipelineError(os_error_message(err, out_dir)) from None
    finally:
        base.SHOW_PROGRESS = previous_progress
    rows.sort(key=lambda r: r["file"])
    settings = {"model": model, "target": target, "seed": seed, "cheap": cheap, "options": _canonical(chosen)}
    folder_run = FolderRun(rows=rows)
    try:
        folder_run.summary_csv = write_summary_csv(rows, names, out_dir / SUMMARY_FILE)
        folder_run.index_html = write_index_html(rows, names, out_dir / INDEX_FILE, settings)
    except OSError as err:
        raise PipelineError(os_error_message(err, out_dir)) from None
    _log_counts(folder_run, out_dir, sum(f.endswith("/") for f, _ in folders), log)
    return rows


def _log_counts(run: FolderRun, out_dir: Path, folders: int, log: Callable[[str], None]) -> None:
    counts = run.counts
    message = (f"{counts['done']} image(s) explained, {counts['cached']} already done in an earlier run (not redone; "
               f"delete {out_dir} to redo), {counts['skipped'] - folders} file(s) skipped (not an image or broken)")
    if folders:
        message += f", {folders} subfolder(s) not processed (pass --recursive to include them)"
    if counts["failed"]:
        message += f", {counts['failed']} failed (see the reason column)"
    log(f"{message}. Summary: {run.summary_csv}; page: {run.index_html}")


# --------------------------------------------------------------------------- reports
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> Any:
    """A value for a CSV cell: text that a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_summary_csv(rows: Sequence[dict], methods: Sequence[str], path: Path) -> Path:
    """One CSV row per file; columns in a stable order (file, status, top-5, then per method)."""
    columns = ["file", "status", "reason", "folder", "target", "target_label"]
    for k in range(1, 6):
        columns += [f"top{k}", f"top{k}_prob"]
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(row.get(k)) for k in columns})
    _save_text(path, text.getvalue())
    return path


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html><head><meta charset="utf-8">{GENERATOR}<title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} td{{vertical-align:top;text-align:center;padding:4px}}
img{{width:180px;height:180px}} th{{background:#eee}}</style></head><body>
{body}
</body></html>
"""


def write_index_html(rows: Sequence[dict], methods: Sequence[str], path: Path, settings: dict) -> Path:
    """A self-contained page: one table row per image, input then one overlay per method (relative links)."""
    esc = html.escape
    head = "".join(f"<th>{esc(m)}</th>" for m in methods)
    body = []
    for row in rows:
        if row["status"] == "skipped":
            continue
        folder = esc(row["folder"])
        top = "<br>".join(f"{esc(str(row.get(f'top{k}', '')))} {float(row.get(f'top{k}_prob') or 0):.2f}"
                          for k in range(1, 6) if row.get(f"top{k}") is not None)
        cells = [f'<td><img src="{folder}/input.png" alt="{esc(row["file"])}"><br><b>{esc(row["file"])}</b>'
                 f'<br><small>{top}</small></td>']
        for m in methods:
            seconds = row.get(f"{m}_seconds")
            if seconds is None:
                cells.append("<td><small>failed</small></td>")
                continue
            extra = f"{seconds:.2f} s"
            for key, short in (("deletion_auc", "del"), ("insertion_auc", "ins")):
                value = row.get(f"{m}_{key}")
                if isinstance(value, (int, float)):
                    extra += f", {short} {value:.3f}"
            cells.append(f'<td><a href="{folder}/{esc(m)}.npy"><img src="{folder}/{esc(m)}.png" alt="{esc(m)}">'
                         f'</a><br><small>{extra}</small></td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    listed = [f"<li>{esc(r['file'])}: {esc(r['reason'])}</li>" for r in rows if r["status"] in ("skipped", "failed")]
    target = "the top-1 class" if settings["target"] == "top1" else f"class {settings['target']}"
    content = f"""<h1>Explanations by {esc(settings['model'])}</h1>
<p>Each map explains {target}; seed {settings['seed']}. Red = most important (signed maps: red for, blue
against). Click a map for its raw values (.npy). del = deletion AUC (lower is better), ins = insertion AUC
(higher is better). Full table: <a href="{SUMMARY_FILE}">{SUMMARY_FILE}</a>.</p>
<table><tr><th>image</th>{head}</tr>
{chr(10).join(body)}
</table>
<h2>Skipped or failed files ({len(listed)})</h2><ul>{''.join(listed) or '<li>none</li>'}</ul>"""
    _save_text(path, _page(f"Explanations: {settings['model']}", content))
    return path


# --------------------------------------------------------------------------- command line
def _parse_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["lime.num_samples=1000", "occlusion.window=16"]`` -> ``{"lime": {"num_samples": 1000}, ...}``."""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        method, dot, option = key.partition(".")
        if not sep or not dot or not method or not option:
            raise PipelineError(f"--option {item!r}: write METHOD.NAME=VALUE, e.g. lime.num_samples=1000.")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        options.setdefault(method, {})[option] = parsed
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m utils.pipeline",
        description="Predict and explain every image in a folder; write overlays, maps, summary.csv and index.html.")
    parser.add_argument("input_dir", help="folder of images (JPEG, PNG, ...); other files are reported and skipped")
    parser.add_argument("--model", default="efficientnet_lite0", help="zoo model name (default efficientnet_lite0)")
    parser.add_argument("--methods", default="grad_cam", help="comma-separated methods, e.g. grad_cam,lime")
    parser.add_argument("--out", required=True,
                        help="output folder: new, empty or an earlier output (re-running reuses finished images)")
    parser.add_argument("--target", default="top1", help="'top1' (the predicted class) or a class index")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling methods (default 0)")
    parser.add_argument("--option", action="append", default=[], metavar="METHOD.NAME=VALUE",
                        help="a method option, e.g. --option lime.num_samples=1000 (repeatable)")
    parser.add_argument("--recursive", action="store_true", help="also explain the images in subfolders")
    parser.add_argument("--full", action="store_true", help="use each method's own defaults, not the cheap ones")
    parser.add_argument("--no-metrics", action="store_true", help="skip deletion/insertion AUC")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--scheduler", default="local",
                        help="'local' (this process, the default), 'local:N' (a Dask cluster of N worker processes "
                             "on this machine) or a Dask scheduler address such as tcp://host:8786")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: 0 on success, 1 if some image failed, 2 with one line on bad input, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    try:
        rows = explain_folder(args.input_dir, args.out, methods=args.methods, model=args.model, target=args.target,
                              seed=args.seed, options=_parse_options(args.option), cheap=not args.full,
                              metrics=not args.no_metrics, progress=not args.no_progress, recursive=args.recursive,
                              scheduler=args.scheduler)
    except PipelineInterrupted as err:
        print(f"\n{err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ninterrupted before any image was explained; run the same command again.", file=sys.stderr)
        return 130
    except ValueError as err:  # PipelineError, or a method rejecting an option: one line, no traceback
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {os_error_message(err)}", file=sys.stderr)
        return 2
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        print(f"error: {len(failed)} image(s) failed, e.g. {failed[0]['file']}: {failed[0]['reason']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
