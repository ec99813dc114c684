"""Write ``results.json``, ``results.md`` and the PNG plots from the benchmark's measurements."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .config import PARTS

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


def cpu_model() -> str:
    """The processor's model name (Linux /proc/cpuinfo; else platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The processor's feature flags (Linux), e.g. to tell whether AVX-512 is there."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine() -> dict[str, Any]:
    import tensorflow as tf

    flags = cpu_flags()
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "cpu_model": cpu_model(),
            "avx512f": "avx512f" in flags, "avx2": "avx2" in flags}


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
                   ("sanity_rank_correlation_logits_only", "sanity: rank corr. after randomising the logits layer"),
                   ("sanity_rank_correlation_abs", "sanity: rank corr. of abs(map), every layer randomised"),
                   ("sanity_verdict", "sanity verdict"),
                   ("stability", "stability (similarity under noise)")]


def _run_lines(results: dict) -> list[str]:
    """When, where and under what load each part ran, and how long it took."""
    parts = results.get("parts", {})
    m = results.get("machine", {})
    lines = [f"Machine: {m.get('cpu_model', m.get('processor', '?'))}, {m.get('cpus', '?')} cores"
             f" (AVX-512: {'yes' if m.get('avx512f') else 'no'}); Python {m.get('python', '?')}, "
             f"TensorFlow {m.get('tensorflow', '?')}.", "",
             "| part | finished | seconds | load average during the part (1-min: min / mean / max) |",
             "|---|---|---|---|"]
    total = 0.0
    for name, block in parts.items():
        if not isinstance(block, dict) or "seconds" not in block:
            continue
        total += block["seconds"]
        load = block.get("load_average")
        load_text = (f"{load['min']:.1f} / {load['mean']:.1f} / {load['max']:.1f}" if load else "not recorded")
        lines.append(f"| {name} | {block.get('finished', '?')} | {block['seconds']:.0f} | {load_text} |")
    run = results.get("run")
    if run:
        load = run["load_average"]
        lines += ["", f"Last run (`--parts {','.join(run['parts'])}`): {run['started']} to {run['finished']}, "
                  f"wall time {run['wall_seconds'] / 60:.1f} min, load average {load['min']:.1f} / "
                  f"{load['mean']:.1f} / {load['max']:.1f} (min / mean / max of the 1-minute average, sampled "
                  f"every {load['interval_s']:.0f} s)."]
    lines += ["", f"Sum of the parts: {total / 60:.1f} min. The machine is shared: a load average above its "
              f"{m.get('cpus', '?')} cores means other jobs competed for the CPU, which slows every absolute time "
              "(the targets are ratios of timings taken back to back, so load affects both sides).", ""]
    return lines


def time_budget(results: dict) -> dict[str, Any]:
    """Where a run's time went: the seconds of each part and, for library_quality, the seconds spent inside the
    timed explanations (the per-image ``seconds`` of every row) against the rest of the part (scoring the maps,
    one untimed warm-up call per row, the randomisation check, loading). The floor is what no trimming of the
    metrics can remove: every other part plus library_quality's timed explanations."""
    parts = {name: float(block["seconds"]) for name, block in results.get("parts", {}).items()
             if isinstance(block, dict) and "seconds" in block}
    explaining: dict[str, float] = {}
    for model_name, model in results.get("parts", {}).get("library_quality", {}).get("models", {}).items():
        explaining[model_name] = float(sum(s for row in model.get("rows", [])
                                           for s in row["per_image"].get("seconds", []) if s is not None))
    library = parts.get("library_quality")
    total = sum(parts.values())
    budget: dict[str, Any] = {"parts": parts, "total": total}
    if library is not None:
        inside = sum(explaining.values())
        budget.update(explaining=explaining, library_rest=library - inside, floor=total - library + inside)
    return budget


def _time_budget_lines(results: dict) -> list[str]:
    budget = time_budget(results)
    if "floor" not in budget:
        return []
    per_model = ", ".join(f"{name} {seconds / 60:.1f} min" for name, seconds in budget["explaining"].items())
    return ["## Where the time went", "",
            f"library_quality spent {sum(budget['explaining'].values()) / 60:.1f} min inside the timed explanations "
            f"({per_model}) and {budget['library_rest'] / 60:.1f} min on the rest (scoring every map, one untimed "
            "warm-up call per row, the randomisation check, loading). The other parts took "
            f"{(budget['total'] - budget['parts']['library_quality']) / 60:.1f} min. So at these sizes the run "
            f"cannot take less than {budget['floor'] / 60:.1f} min on the machine that recorded it, however cheap the "
            "metrics are made: only fewer images, smaller budgets or fewer rows would shorten it.", ""]


def _agreement_lines(block: dict) -> list[str]:
    """Seed-to-seed agreement of RISE (two normalisations) and SmoothGrad (per budget)."""
    rise, smooth = block["rise"], block["smoothgrad"]
    lines = ["## Seed-to-seed agreement (Pearson r of two seeds' maps, EfficientNet-Lite0)", "",
             f"Photos: {', '.join(block['photos'])}; seeds {block['seeds'][0]} and {block['seeds'][1]}.", "",
             f"RISE at {rise['num_samples']} masks, both estimators from the same masks and scores: "
             "`coverage` = sum_i f_i M_i / sum_i M_i (utils.explain.rise), `paper` = sum_i f_i M_i / (N p).", "",
             "| photo | " + " | ".join(f"{s} {k}" for s in rise["scores"] for k in ("coverage", "paper")) + " |",
             "|---|" + "---|" * (2 * len(rise["scores"]))]
    for row in rise["per_photo"]:
        lines.append(f"| {row['photo']} | " + " | ".join(_fmt(row[f'{s}_{k}_r']) for s in rise["scores"]
                                                        for k in ("coverage", "paper")) + " |")
    lines += ["", "Map mean and spatial standard deviation (seed 0), which shows why N p is noisy: the mean score "
              "times each pixel's coverage noise adds to a map whose spatial spread is small.", "",
              "| photo | " + " | ".join(f"{s} mean / spatial sd" for s in rise["scores"]) + " |",
              "|---|" + "---|" * len(rise["scores"])]
    for row in rise["per_photo"]:
        cells = [f"{_fmt(row[f'{s}_coverage_mean'])} / {_fmt(row[f'{s}_coverage_spatial_sd'])}"
                 for s in rise["scores"]]
        lines.append(f"| {row['photo']} | " + " | ".join(cells) + " |")
    budgets = smooth["budgets"]
    lines += ["", f"SmoothGrad (noise level {smooth['noise_level']}) by number of samples:", "",
              "| photo | " + " | ".join(str(n) for n in budgets) + " |", "|---|" + "---|" * len(budgets)]
    for row in smooth["per_photo"]:
        lines.append(f"| {row['photo']} | " + " | ".join(_fmt(row["r"][str(n)]) for n in budgets) + " |")
    lines.append("| **median** | " + " | ".join(_fmt(smooth["median_r"][str(n)]) for n in budgets) + " |")
    best = smooth["smallest_budget_meeting_target"]
    lines += ["", f"Smallest budget whose median r reaches {smooth['target_r']}: {best if best else 'none measured'}; "
              f"the default `num_samples` is {smooth['default_num_samples']}. One noisy sample costs "
              f"{smooth['seconds_per_sample'] * 1000:.0f} ms here (forward + backward).", ""]
    return lines


def _model_detail_lines(model_name: str, block: dict) -> list[str]:
    """The random twin's logit spread and Integrated Gradients' steps and gaps per image."""
    lines = []
    twin = block.get("random_twin")
    if twin:
        lines += [f"Random twin of `{model_name}` (every layer re-initialised, "
                  f"utils.evaluation.metrics.variance_scaling_init) "
                  f"on {twin['images']} images: logit sd {_fmt(twin['sd'])} (trained {_fmt(twin['trained_sd'])}); "
                  f"sd of each class's logit over the images {_fmt(twin['sd_over_images'])} "
                  f"(trained {_fmt(twin['trained_sd_over_images'])}); usable (sd > {twin['threshold']}): "
                  f"**{twin['usable']}**.", ""]
    ig = next((r for r in block.get("methods", []) if r["method"] == "integrated_gradients" and "ig_steps" in r), None)
    if ig:
        opts = ig["options"]
        lines += [f"Integrated Gradients ran until the completeness gap was below {opts['tolerance']:.0%} "
                  f"(steps doubled from {opts['start_samples']}, at most {opts['max_samples']}): "
                  "steps per image "
                  f"{ig['ig_steps']}, gaps {[f'{g:.1%}' for g in ig['ig_gaps']]}; in the sanity check's runs "
                  f"(trained copy, then each stage) steps {ig['ig_sanity_steps']}, gaps "
                  f"{[f'{g:.1%}' for g in ig['ig_sanity_gaps']]}.", ""]
    return lines


LIBRARY_COLUMNS = [("seconds", "s"), ("model_evaluations", "model evaluations"),
                   ("deletion_auc", "deletion AUC (lower better)"), ("insertion_auc", "insertion AUC (higher better)"),
                   ("pointing_game", "pointing game"), ("relevance_mass", "relevance mass"),
                   ("mufidelity", "MuFidelity"), ("pgi", "PGI (higher better)"), ("pgu", "PGU (lower better)"),
                   ("sanity_rank_correlation_abs", "sanity: rank corr. of abs(map), all layers randomised"),
                   ("stability", "stability")]


def _interval(summary: dict | None) -> str:
    """'mean [low, high]' of a bootstrap summary (benchmarks.statistics.bootstrap_mean), '-' when empty."""
    if not summary or summary.get("mean") is None:
        return "-"
    if summary["n"] < 2:
        return f"{_fmt(summary['mean'])} (n={summary['n']})"
    return f"{_fmt(summary['mean'])} [{_fmt(summary['low'])}, {_fmt(summary['high'])}]"


def _library_lines(block: dict) -> list[str]:
    """library_quality: per model, library rows next to ours with 95% intervals; rankings; sample sizes."""
    adapters = block.get("adapters", {})
    lines = ["## Libraries against our implementations, scored on the same images (library_quality)", "",
             "Each cell is the mean over images with its 95% percentile-bootstrap interval (benchmarks.statistics). "
             "`default`: the library as documented; `matched`: the settings that match ours (table below). "
             "`vs ours`: paired test over the same images on deletion / insertion AUC (reproduced = the library "
             "row is better, not reproduced = ours is, not resolved = the images do not decide).", ""]
    for model_name, model in block.get("models", {}).items():
        lines += [f"### `{model_name}`", ""]
        if model.get("unavailable"):
            lines += [f"Not measured: {model['unavailable']}", ""]
            continue
        lines += [f"{model['images']} images; {model.get('note', '')}", ""]
        if model.get("mask_share"):
            lines += [f"Ground-truth share of the image (the pointing game's chance level): "
                      f"{_interval(model['mask_share'])}.", ""]
        head = (["method", "variant", "explainer", "images"] + [title for _, title in LIBRARY_COLUMNS]
                + ["vs ours (del / ins)"])
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in model["rows"]:
            vs = row.get("vs_ours", {})
            verdicts = " / ".join(vs[k]["verdict"] if k in vs else "-" for k in ("deletion_auc", "insertion_auc"))
            cells = [row["method"], row["variant"], f"{row['explainer']} ({row['library']})",
                     str(row.get("images_explained", model["images"]))]
            cells += [_interval(row["summary"].get(key)) for key, _ in LIBRARY_COLUMNS]
            cells.append(verdicts if row["variant"] != "ours" else "")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for check in model.get("rankings", []):
            pairs = "; ".join(f"{p['claim']}: {p['verdict']} (n={p['n']}, mean difference {_fmt(p['mean_difference'])}"
                              f" [{_fmt(p['low'])}, {_fmt(p['high'])}], Wilcoxon p {_fmt(p['wilcoxon_p'])})"
                              for p in check["pairs"])
            lines.append(f"- Ranking {' > '.join(check['order'])} by {check['metric']} ({check['source']}): "
                         f"**{check['verdict']}**. {pairs}")
        size = model.get("sample_size")
        if size:
            pilot = size.get("pilot")
            bound = size["bound"]
            text = (f"- Images to resolve a pointing-game difference of {size['delta']} (paired, alpha "
                    f"{bound['alpha']}, power {bound['power']}): binomial bound {bound['n']} "
                    f"({bound['n_wilcoxon']} for the Wilcoxon test)")
            if pilot:
                text += (f"; from this run's hits as a pilot, hardest of {size['pairs']} pairs "
                         f"({pilot['pair'][0]} vs {pilot['pair'][1]}, variance {_fmt(pilot['variance'])}): "
                         f"{pilot['n_wilcoxon']}, median over the pairs {size['pilot_median_n_wilcoxon']}; this run "
                         f"used {size['images']} ({'enough' if size['enough_by_pilot'] else 'not enough'} for the "
                         "hardest pair)")
            lines.append(text + ".")
        lines.append("")
    if adapters:
        lines += ["### Settings of each library call", "",
                  "| adapter | library | call | ours | default | matched | why matched |", "|---" * 7 + "|"]
        for key, a in adapters.items():
            lines.append(f"| {key} | {a['library']} | `{a['api']}` | {a['ours']} {a['ours_settings'] or ''} | "
                         f"{a['default']}: {a.get('why_default', '')} | {a['matched']} | {a['why_matched']} |")
        lines.append("")
    return lines


def write_markdown(results: dict, out_dir: Path) -> Path:
    """results.md: the targets section first (MET / MISSED with ratios), then every table."""
    parts = results.get("parts", {})
    from utils.evaluation.metrics import SANITY_MAX_RANK_CORRELATION

    lines = ["# Benchmark results", "",
             f"Configuration: `{results.get('config', {}).get('name', '?')}`. Regenerate with `python -m benchmarks` "
             "(parts: `--parts " + ",".join(PARTS) + "`; `--quick` for the CI sizes).", ""]
    lines += _run_lines(results)
    lines += _time_budget_lines(results)
    lines += ["Sanity verdict: the Spearman rank correlation of abs(map) between the original model and the fully "
              "randomised model (every weighted layer re-initialised, cascading from the logits down); a method "
              f"**passes** when it is below {SANITY_MAX_RANK_CORRELATION} "
              f"(utils.evaluation.metrics.SANITY_MAX_RANK_CORRELATION): "
              "its map changes when the weights it should explain are destroyed. When the randomised map is one value "
              "everywhere the rank correlation is undefined (reported as 0) and the verdict is **undefined (constant "
              "map)**.", "",
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
    if "agreement" in parts:
        lines += _agreement_lines(parts["agreement"])
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
            lines += _model_detail_lines(model_name, block)
    if "library_quality" in parts:
        lines += _library_lines(parts["library_quality"])
    if results.get("notes"):
        lines += ["## Notes (written after this run, from its numbers)", ""]
        lines += [f"- {n}" for n in results["notes"]] + [""]
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
