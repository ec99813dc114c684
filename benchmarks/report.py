"""Write ``results.json``, ``results.md`` and the PNG plots from the benchmark's measurements."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

# Where the committed results live; BENCHMARK_RESULTS points notebook 08 at another run's folder.
RESULTS_DIR = Path(os.environ.get("BENCHMARK_RESULTS", Path(__file__).resolve().parent / "results"))


def load_results(out_dir: Path) -> dict[str, Any]:
    """The results recorded so far in ``out_dir/results.json`` (parts can be run separately and merged)."""
    path = Path(out_dir) / "results.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass
    return {"parts": {}}


def machine() -> dict[str, Any]:
    import os

    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if np.isnan(value):
            return "-"
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(key)) for key, _ in columns) + " |")
    return lines


QUALITY_COLUMNS = [("method", "method"), ("median_s", "median s"), ("model_calls", "model calls"),
                   ("deletion_auc", "deletion AUC (lower better)"), ("insertion_auc", "insertion AUC (higher better)"),
                   ("pointing_game", "pointing game"), ("relevance_mass", "relevance mass"),
                   ("sanity_rank_correlation_logits_only", "sanity: rank corr. after randomising the logits layer (lower = passes)"),
                   ("sanity_rank_correlation", "sanity: same, every stage randomised"),
                   ("stability", "stability (similarity under noise)")]


def write_markdown(results: dict, out_dir: Path) -> Path:
    """results.md: the targets section first (MET / MISSED with ratios), then every table."""
    parts = results.get("parts", {})
    lines = ["# Benchmark results", "",
             f"Configuration: `{results.get('config', {}).get('name', '?')}`; machine: "
             f"{results.get('machine', {})}. Regenerate with `python -m benchmarks` "
             "(parts: `--parts throughput,targets,libraries,photos,cue`).", "",
             "## Targets (issue 6): each a ratio of two timings measured back to back in one run", ""]
    targets = parts.get("targets", {}).get("targets", [])
    if targets:
        lines += ["| target | ratio | bound | status | note |", "|---|---|---|---|---|"]
        for t in targets:
            note = "" if t["status"] == "MET" else f"missed, {t.get('missed_by')}: {t.get('why', '')}"
            bound = ("<= " if t["kind"] == "at_most" else ">= ") + _fmt(t["bound"])
            lines.append(f"| {t['target']} | {_fmt(t['ratio'])} | {bound} | **{t['status']}** | {note} |")
        lines += [""]
    else:
        lines += ["(targets part not run)", ""]
    if "throughput" in parts:
        lines += ["## Raw model throughput (compiled, EfficientNet-Lite0, random images)", "",
                  "| batch | forward images/s | forward+backward images/s |", "|---|---|---|"]
        for b, v in parts["throughput"]["throughput"].items():
            lines.append(f"| {b} | {_fmt(v['forward_images_per_s'])} | {_fmt(v['forward_backward_images_per_s'])} |")
        lines += [""]
    if "libraries" in parts:
        lines += ["## Libraries users would pick instead (same model and image)", "",
                  "`x forward` = time / the time of the same number of raw compiled forwards, measured alongside. "
                  "lime and shap call `model.predict(x, verbose=0)` as their documentation does.", "",
                  "| what | seconds | evaluations | x forward |", "|---|---|---|---|"]
        for name, v in parts["libraries"]["libraries"].items():
            lines.append(f"| {name} | {_fmt(v['seconds'])} | {v['evaluations']} | {_fmt(v['x_forward'])} |")
        lines += [""]
    for key, title in (("photos", "Every method on the bundled photos (EfficientNet-Lite0)"),
                       ("cue", "Every method on the planted-cue test images (ground truth known)")):
        if key not in parts:
            continue
        for model_name, block in parts[key].get("models", {}).items():
            lines += [f"## {title}: `{model_name}`", ""]
            if block.get("unavailable"):
                lines += [f"Not measured: {block['unavailable']}", ""]
                continue
            lines += [f"{block.get('images', '?')} images; {block.get('note', '')}", ""]
            lines += _table(block["methods"], QUALITY_COLUMNS) + [""]
    if parts.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in parts["notes"]] + [""]
    path = Path(out_dir) / "results.md"
    path.write_text("\n".join(lines))
    return path


def write_plots(results: dict, out_dir: Path) -> list[Path]:
    """A few PNGs: throughput, target ratios, time against quality, pointing game per model."""
    out_dir = Path(out_dir)
    parts = results.get("parts", {})
    written = []
    if "throughput" in parts:
        data = parts["throughput"]["throughput"]
        batches = [int(b) for b in data]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(batches, [data[str(b)]["forward_images_per_s"] for b in batches], "o-", label="forward")
        ax.plot(batches, [data[str(b)]["forward_backward_images_per_s"] for b in batches], "s-",
                label="forward + backward")
        ax.set(xscale="log", xlabel="batch size", ylabel="images / s", title="Raw throughput, EfficientNet-Lite0")
        ax.legend()
        fig.tight_layout()
        written.append(out_dir / "throughput.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    targets = parts.get("targets", {}).get("targets", [])
    if targets:
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(targets) + 1.2))
        names = [t["target"] for t in targets]
        # show every target as "how far from its bound": ratio/bound for at_most, bound/ratio for at_least (<=1 = met)
        score = [t["ratio"] / t["bound"] if t["kind"] == "at_most" else t["bound"] / t["ratio"] for t in targets]
        colours = ["tab:green" if t["status"] == "MET" else "tab:red" for t in targets]
        ax.barh(range(len(targets)), score, color=colours)
        ax.axvline(1.0, color="k", ls="--", lw=1)
        ax.set_yticks(range(len(targets)), names, fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel="measured / allowed (<= 1 is met)", title="Speed targets")
        fig.tight_layout()
        written.append(out_dir / "targets.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    photos = parts.get("photos", {}).get("models", {})
    for model_name, block in photos.items():
        rows = [r for r in block.get("methods", []) if r.get("deletion_auc") is not None]
        if not rows:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, key, label in ((axes[0], "deletion_auc", "deletion AUC (lower is better)"),
                               (axes[1], "insertion_auc", "insertion AUC (higher is better)")):
            for r in rows:
                ax.scatter(r["median_s"], r[key])
                ax.annotate(r["method"], (r["median_s"], r[key]), fontsize=7, xytext=(3, 3), textcoords="offset points")
            ax.set(xscale="log", xlabel="median seconds per explanation", ylabel=label)
        fig.suptitle(f"Cost against faithfulness, {model_name}")
        fig.tight_layout()
        written.append(out_dir / "time_vs_quality.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    cue = parts.get("cue", {}).get("models", {})
    blocks = {m: b for m, b in cue.items() if b.get("methods")}
    if blocks:
        methods = [r["method"] for r in next(iter(blocks.values()))["methods"]]
        fig, ax = plt.subplots(figsize=(9, 3.5))
        width = 0.8 / len(blocks)
        for k, (model_name, block) in enumerate(blocks.items()):
            values = {r["method"]: r.get("pointing_game") for r in block["methods"]}
            ax.bar(np.arange(len(methods)) + k * width, [values.get(m) or 0 for m in methods], width,
                   label=model_name)
        ax.set_xticks(np.arange(len(methods)) + width * (len(blocks) - 1) / 2, methods, rotation=45, ha="right",
                      fontsize=8)
        ax.set(ylabel="pointing game (hit rate)", ylim=(0, 1.05), title="Does the map's peak fall on the planted cue?")
        ax.legend()
        fig.tight_layout()
        written.append(out_dir / "pointing_game.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)
    return written


def save(results: dict, out_dir: Path) -> dict[str, Any]:
    """Write results.json, results.md and the plots; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=float))
    md = write_markdown(results, out_dir)
    plots = write_plots(results, out_dir)
    return {"json": out_dir / "results.json", "markdown": md, "plots": plots}
