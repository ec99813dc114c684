"""Explain a whole folder of images: predictions, maps, overlays, a CSV summary and an HTML page.

Introduced in notebook 09 (LIME in practice). The second source proposal asked for "a pipeline that
predicts all images in a folder and saves the explanations to compare them"; this is it::

    python -m utils.pipeline INPUT_DIR --model efficientnet_lite0 --methods grad_cam,lime --out OUT_DIR

or, from Python, :func:`explain_folder`. For every image ``photo.jpg`` it writes, under
``OUT_DIR/photo_jpg/``, one overlay ``<method>.png`` and one raw map ``<method>.npy`` per method,
plus ``input.png`` (the 224x224 crop the model saw) and ``record.json`` (what was computed, with
which settings). ``OUT_DIR/summary.csv`` holds one row per file (top-5 classes, seconds per method,
deletion/insertion AUC when :mod:`utils.metrics` offers them) and ``OUT_DIR/index.html`` shows the
methods side by side. A file that is not an image, or a broken one, is reported and skipped; a
second run reuses what is already on disk (same model, target and seed) and says so.
"""
from __future__ import annotations

import argparse
import csv
import html
import inspect
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from .data import IMAGE_SUFFIXES, load_image

RECORD_FILE = "record.json"
SUMMARY_FILE = "summary.csv"
INDEX_FILE = "index.html"

# Settings that keep a folder run affordable on a laptop CPU (a user's options override them).
CHEAP_OPTIONS: dict[str, dict[str, Any]] = {
    "lime": {"num_samples": 500},
    "kernel_shap": {"num_samples": 500},
    "rise": {"num_masks": 500},
    "occlusion": {"window": 32, "stride": 32},
    "score_cam": {"max_maps": 128},
    "smoothgrad": {"num_samples": 16},
    "integrated_gradients": {"steps": 32},
}
# Deletion/insertion curves in the summary use a few coarse steps: cheap, and enough to rank maps.
METRIC_STEPS = 16


class PipelineError(ValueError):
    """A problem with the pipeline's inputs (folder, model, methods, target), told in one line."""


@dataclass
class FolderRun:
    """What :func:`explain_folder` did: one row per file, and the files it wrote."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary_csv: Path | None = None
    index_html: Path | None = None

    @property
    def counts(self) -> dict[str, int]:
        """How many files were explained now, reused from an earlier run, or skipped."""
        out = {"done": 0, "cached": 0, "skipped": 0}
        for row in self.rows:
            out[row["status"]] = out.get(row["status"], 0) + 1
        return out


# --------------------------------------------------------------------------- inputs
def list_files(folder: str | Path) -> list[Path]:
    """Every visible regular file in ``folder`` (not recursive), sorted by name.

    Files that are not images are listed too: the pipeline reports them as skipped instead of
    silently ignoring them. Raises :class:`PipelineError` for a missing or empty folder.
    """
    folder = Path(folder)
    if not folder.exists():
        raise PipelineError(f"Input folder {folder} does not exist. Pass a folder of images (JPEG, PNG, ...).")
    if not folder.is_dir():
        raise PipelineError(f"{folder} is a file, not a folder. Pass the folder that holds the images.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise PipelineError(f"Input folder {folder} is empty: put some images (JPEG, PNG, ...) in it.")
    return files


def output_name(path: Path) -> str:
    """Folder name for one input file: its name with dots made underscores (``a.jpg`` -> ``a_jpg``),
    so ``a.jpg`` and ``a.png`` do not overwrite each other."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in path.name)


def parse_methods(methods: str | Sequence[str]) -> list[str]:
    """``"grad_cam,lime"`` or ``["grad_cam", "lime"]`` -> checked list of registered method names."""
    from .explain import METHODS

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


def load_pipeline_model(name: str):
    """:func:`utils.models.load_model`, with every failure turned into a one-line :class:`PipelineError`."""
    from .models import load_model

    try:
        return load_model(name)
    except (ValueError, RuntimeError, OSError) as err:
        raise PipelineError(str(err).splitlines()[0] if str(err) else f"Cannot load model {name!r}.") from err


def class_names(model) -> list[str]:
    """Class names for ``model``'s outputs: ImageNet's for 1000 classes, the model's own if it
    carries ``class_names``, else ``class 0``, ``class 1``, ..."""
    from .explain.base import num_classes
    from .models import imagenet_labels

    n = num_classes(model)
    own = getattr(model, "class_names", None) or model.__dict__.get("class_names")
    if own is not None and len(own) == n:
        return [str(c) for c in own]
    if n == 1000:
        return imagenet_labels()
    return [f"class {i}" for i in range(n)]


# --------------------------------------------------------------------------- one image
def method_options(name: str, options: Mapping[str, Mapping[str, Any]] | None, seed: int,
                   cheap: bool = True) -> dict[str, Any]:
    """Keyword options for method ``name``: cheap defaults, the user's options, and ``seed`` if it takes one."""
    from .explain import METHODS

    chosen = dict(CHEAP_OPTIONS.get(name, {})) if cheap else {}
    chosen.update((options or {}).get(name, {}))
    params = inspect.signature(METHODS[name]).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "seed" in params or takes_any:
        chosen.setdefault("seed", seed)
    if not takes_any:  # drop cheap defaults the method does not know (the user's own are kept: they fail loudly)
        user = set((options or {}).get(name, {}))
        chosen = {k: v for k, v in chosen.items() if k in params or k in user}
    return chosen


def _metric_functions() -> dict[str, Callable]:
    """Deletion/insertion AUC from :func:`utils.metrics.deletion_insertion` (cheap: :data:`METRIC_STEPS`
    steps), or nothing if that module is unavailable."""
    try:
        from .metrics import deletion_insertion
    except ImportError:
        return {}
    return {"deletion_insertion": deletion_insertion}


def _call_metrics(fns: Mapping[str, Callable], model, image: np.ndarray, saliency: np.ndarray,
                  target: int) -> dict[str, float]:
    out: dict[str, float] = {}
    if "deletion_insertion" in fns:
        curves = fns["deletion_insertion"](model, image, saliency, target, steps=METRIC_STEPS)
        out["deletion_auc"] = round(float(curves["deletion_auc"]), 4)
        out["insertion_auc"] = round(float(curves["insertion_auc"]), 4)
    return out


def _settings(model_name: str, target: str | int, seed: int, options: Mapping | None, cheap: bool) -> dict:
    return {"model": model_name, "target": target, "seed": seed, "cheap": cheap,
            "options": {k: dict(v) for k, v in sorted((options or {}).items())}}


def _read_record(folder: Path) -> dict | None:
    try:
        return json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None


def _save_png(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(array).save(tmp)
    tmp.replace(path)  # atomic: an interrupted run never leaves half a PNG that looks done


def explain_image(model, image: np.ndarray, methods: Sequence[str], out_dir: Path, target: str | int = "top1",
                  seed: int = 0, options: Mapping[str, Mapping[str, Any]] | None = None, cheap: bool = True,
                  metrics: bool = True, labels: Sequence[str] | None = None,
                  done: Mapping[str, dict] | None = None) -> dict[str, Any]:
    """Predict ``image``, run every method and write its overlay and map to ``out_dir``.

    ``done`` holds per-method results of an earlier run with the same settings; those methods are
    not run again. Returns the record (prediction, per-method seconds, metrics) saved as JSON.
    """
    from .explain import METHODS
    from .explain.base import check_image, check_target, predict
    from .plot import as_uint8, overlay_rgb

    image = check_image(model, image)
    labels = labels or class_names(model)
    probs = predict(model, image[None])[0]
    order = np.argsort(probs)[::-1][:5]
    top5 = [{"index": int(i), "label": labels[i], "prob": float(probs[i])} for i in order]
    cls = int(order[0]) if target == "top1" else check_target(model, target)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_png(out_dir / "input.png", as_uint8(image))
    metric_fns = _metric_functions() if metrics else {}
    results: dict[str, dict] = {}
    for name in methods:
        if done and name in done and (out_dir / f"{name}.npy").exists() and (out_dir / f"{name}.png").exists():
            results[name] = dict(done[name])
            continue
        start = time.perf_counter()
        saliency = np.asarray(METHODS[name](model, image, cls, **method_options(name, options, seed, cheap)),
                              dtype=np.float32)
        seconds = time.perf_counter() - start
        signed = bool(saliency.min() < 0)
        np.save(out_dir / f"{name}.npy", saliency)
        _save_png(out_dir / f"{name}.png", overlay_rgb(image, saliency, signed=signed))
        entry: dict[str, Any] = {"seconds": round(seconds, 4), "signed": signed}
        try:
            entry.update(_call_metrics(metric_fns, model, image, saliency, cls))
        except ValueError as err:  # a metric failing (e.g. a constant map) must not lose the map just computed
            entry["metric_error"] = str(err).splitlines()[0][:200]
        results[name] = entry
    return {"target": cls, "target_label": labels[cls], "top5": top5, "methods": results}


# --------------------------------------------------------------------------- the folder
def explain_folder(input_dir: str | Path, out_dir: str | Path, methods: str | Sequence[str] = ("grad_cam",),
                   model: str = "efficientnet_lite0", target: str | int = "top1", seed: int = 0,
                   options: Mapping[str, Mapping[str, Any]] | None = None, cheap: bool = True,
                   metrics: bool = True, progress: bool = True, log: Callable[[str], None] | None = print
                   ) -> list[dict[str, Any]]:
    """Explain every image of ``input_dir`` with ``methods``; write maps, overlays, CSV and HTML to ``out_dir``.

    Returns the summary rows (one dict per file, as in ``summary.csv``): ``status`` is ``"done"``
    (explained now), ``"cached"`` (everything already on disk from an earlier run with the same
    model, target, seed and options) or ``"skipped"`` (not an image, or broken: ``reason`` says why).
    ``options`` maps a method to keyword options, e.g. ``{"lime": {"num_samples": 1000}}``; with
    ``cheap=True`` the affordable defaults of :data:`CHEAP_OPTIONS` apply first.
    Raises :class:`PipelineError` (a ValueError) for a missing/empty folder, unknown model or method.
    """
    from .explain import base
    from .explain.base import progress as progress_bar

    if log is print and progress:
        from tqdm.auto import tqdm

        log = tqdm.write  # prints above the progress bar instead of breaking it
    log = log or (lambda message: None)
    files = list_files(input_dir)
    names = parse_methods(methods)
    target = parse_target(target)
    net = load_pipeline_model(model)
    labels = class_names(net)
    if isinstance(target, int) and not 0 <= target < len(labels):
        raise PipelineError(f"--target {target} is outside the model's classes 0..{len(labels) - 1}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = _settings(model, target, seed, options, cheap)
    rows: list[dict[str, Any]] = []
    previous_progress = base.SHOW_PROGRESS
    base.SHOW_PROGRESS = False  # the methods' own bars would clutter the folder's bar
    try:
        for path in progress_bar(files, total=len(files), desc="images", enabled=progress):
            rows.append(_process_file(path, net, names, out_dir, settings, metrics, labels, log))
    finally:
        base.SHOW_PROGRESS = previous_progress
    run = FolderRun(rows=rows)
    run.summary_csv = write_summary_csv(rows, names, out_dir / SUMMARY_FILE)
    run.index_html = write_index_html(rows, names, out_dir / INDEX_FILE, settings)
    counts = run.counts
    log(f"{counts['done']} image(s) explained, {counts['cached']} already done in an earlier run (not redone; "
        f"delete {out_dir} to redo), {counts['skipped']} file(s) skipped (not an image or broken). "
        f"Summary: {run.summary_csv}; page: {run.index_html}")
    return rows


def _process_file(path: Path, net, names: list[str], out_dir: Path, settings: dict, metrics: bool,
                  labels: Sequence[str], log: Callable[[str], None]) -> dict[str, Any]:
    row: dict[str, Any] = {"file": path.name}
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        log(f"skipped {path.name}: not an image file (suffix {path.suffix or 'none'}).")
        return {**row, "status": "skipped", "reason": f"not an image file (suffix {path.suffix or 'none'})"}
    try:
        image = load_image(path, size=int(net.inputs[0].shape[1]))
    except ValueError as err:
        reason = str(err).replace(str(path), path.name).splitlines()[0]
        log(f"skipped {path.name}: {reason}")
        return {**row, "status": "skipped", "reason": reason}
    row["folder"] = output_name(path)
    folder = out_dir / row["folder"]
    previous = _read_record(folder)
    done = previous["methods"] if previous and previous.get("settings") == settings else None
    cached = bool(done) and all(m in done for m in names) and all(
        (folder / f"{m}.npy").exists() and (folder / f"{m}.png").exists() for m in names)
    if cached:
        record = previous
        status = "cached"
    else:
        record = explain_image(net, image, names, folder, target=settings["target"], seed=settings["seed"],
                               options=settings["options"], cheap=settings["cheap"], metrics=metrics,
                               labels=labels, done=done)
        if done:  # keep methods of the earlier run that were not asked for this time
            record["methods"] = {**done, **record["methods"]}
        record["settings"] = settings
        record["file"] = path.name
        (folder / RECORD_FILE).write_text(json.dumps(record, indent=1))
        status = "done"
    return {**row, "status": status, "reason": "", **_record_to_row(record, names)}


def _record_to_row(record: dict, names: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"target": record["target"], "target_label": record["target_label"]}
    for k, entry in enumerate(record["top5"], start=1):
        row[f"top{k}"] = entry["label"]
        row[f"top{k}_prob"] = round(entry["prob"], 4)
    for name in names:
        entry = record["methods"].get(name, {})
        row[f"{name}_seconds"] = entry.get("seconds")
        for key in ("deletion_auc", "insertion_auc"):
            if key in entry:
                row[f"{name}_{key}"] = entry[key]
    return row


# --------------------------------------------------------------------------- reports
def write_summary_csv(rows: Sequence[dict], methods: Sequence[str], path: Path) -> Path:
    """One CSV row per file; columns in a stable order (file, status, top-5, then per method)."""
    columns = ["file", "status", "reason", "folder", "target", "target_label"]
    for k in range(1, 6):
        columns += [f"top{k}", f"top{k}_prob"]
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k, "")) for k in columns})
    return path


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
            extra = f"{seconds:.2f} s" if isinstance(seconds, (int, float)) else ""
            for key, short in (("deletion_auc", "del"), ("insertion_auc", "ins")):
                value = row.get(f"{m}_{key}")
                if isinstance(value, (int, float)):
                    extra += f", {short} {value:.3f}"
            cells.append(f'<td><a href="{folder}/{esc(m)}.npy"><img src="{folder}/{esc(m)}.png" alt="{esc(m)}">'
                         f'</a><br><small>{extra}</small></td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    skipped = [f"<li>{esc(r['file'])}: {esc(r['reason'])}</li>" for r in rows if r["status"] == "skipped"]
    target = "the top-1 class" if settings["target"] == "top1" else f"class {settings['target']}"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Explanations: {esc(settings['model'])}</title>
<style>body{{font-family:sans-serif}} td{{vertical-align:top;text-align:center;padding:4px}}
img{{width:180px;height:180px}} th{{background:#eee}}</style></head><body>
<h1>Explanations by {esc(settings['model'])}</h1>
<p>Each map explains {target}; seed {settings['seed']}. Red = most important (signed maps: red for, blue
against). Click a map for its raw values (.npy). del = deletion AUC (lower is better), ins = insertion AUC
(higher is better). Full table: <a href="{SUMMARY_FILE}">{SUMMARY_FILE}</a>.</p>
<table><tr><th>image</th>{head}</tr>
{chr(10).join(body)}
</table>
<h2>Skipped files ({len(skipped)})</h2><ul>{''.join(skipped) or '<li>none</li>'}</ul>
</body></html>
"""
    path.write_text(page)
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
    parser.add_argument("--out", required=True, help="output folder (created; re-running reuses finished images)")
    parser.add_argument("--target", default="top1", help="'top1' (the predicted class) or a class index")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling methods (default 0)")
    parser.add_argument("--option", action="append", default=[], metavar="METHOD.NAME=VALUE",
                        help="a method option, e.g. --option lime.num_samples=1000 (repeatable)")
    parser.add_argument("--full", action="store_true", help="use each method's own defaults, not the cheap ones")
    parser.add_argument("--no-metrics", action="store_true", help="skip deletion/insertion AUC")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: returns 0 on success, 2 with a one-line message on bad input."""
    args = build_parser().parse_args(argv)
    try:
        explain_folder(args.input_dir, args.out, methods=args.methods, model=args.model, target=args.target,
                       seed=args.seed, options=_parse_options(args.option), cheap=not args.full,
                       metrics=not args.no_metrics, progress=not args.no_progress)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # e.g. a method rejecting an option: still one line, no traceback
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
