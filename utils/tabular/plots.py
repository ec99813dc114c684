"""Plots for notebooks 01-03: a waterfall of additive contributions and a bar chart of LIME weights.

Introduced in notebook 01 (waterfall of a logistic regression's log-odds) and reused in 02-03.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np

from utils.plot import AGAINST_COLOUR as NEGATIVE  # red for, blue against
from utils.plot import FOR_COLOUR as POSITIVE


def plot_waterfall(contributions: Mapping[str, float], title: str = "", xlabel: str = "log-odds",
                   ax=None):
    """Horizontal waterfall: start at 0, add each contribution in turn, end at the total.

    ``contributions`` is ordered (e.g. a pandas Series: bias first); the last bar is the sum.
    """
    names = list(contributions.keys())
    values = np.array([float(contributions[n]) for n in names])
    if len(values) == 0:
        raise ValueError("nothing to plot: pass at least one contribution.")
    ax = ax or plt.subplots(figsize=(7, 0.45 * len(values) + 1.2))[1]
    starts = np.concatenate([[0.0], np.cumsum(values)[:-1]])
    rows = np.arange(len(values))[::-1] + 1
    ax.barh(rows, values, left=starts, color=[POSITIVE if v >= 0 else NEGATIVE for v in values])
    for r, s, v in zip(rows, starts, values):
        ax.text(s + v, r, f" {v:+.2f}", va="center", ha="left" if v >= 0 else "right", fontsize=8)
    total = values.sum()
    ax.barh([0], [total], color="0.4")
    ax.text(total, 0, f" {total:+.2f}", va="center", ha="left" if total >= 0 else "right", fontsize=8)
    ends = np.concatenate([starts, starts + values, [0.0, total]])
    pad = 0.18 * (ends.max() - ends.min() or 1.0)
    ax.set_xlim(ends.min() - pad, ends.max() + pad)  # room for the value labels
    ax.set_yticks(list(rows) + [0], names + ["total"])
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return ax


def plot_weights(weights: Mapping[str, float], title: str = "", xlabel: str = "LIME weight",
                 ax=None, errors: Mapping[str, float] | None = None):
    """Bar chart of explanation weights, largest |weight| on top; optional error bars (e.g. seed spread)."""
    names = sorted(weights, key=lambda n: abs(weights[n]))
    if not names:
        raise ValueError("nothing to plot: pass at least one weight.")
    values = [weights[n] for n in names]
    ax = ax or plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))[1]
    xerr = None if errors is None else [errors.get(n, 0.0) for n in names]
    ax.barh(range(len(names)), values, xerr=xerr, capsize=3,
            color=[POSITIVE if v >= 0 else NEGATIVE for v in values])
    ax.set_yticks(range(len(names)), names)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return ax
