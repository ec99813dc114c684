"""LIME for text, from scratch (introduced in notebook 03).

LIME for text explains one document's prediction with words as features:

1. masks: each sample removes a random number of distinct words (every occurrence of each);
2. the black box scores the shortened texts;
3. each sample is weighted by an exponential kernel of the cosine distance between its
   keep/remove mask and the all-ones mask of the original text;
4. a weighted linear model on the masks gives one weight per word.

Tokenisation, removal and the order of random draws follow ``lime.lime_text.LimeTextExplainer``
(words are runs of ``\\w``, case-sensitive), so with one seed both give the same samples. Steps 3
and 4 are the shared LIME core (:mod:`utils.lime.core`), the same functions as for tables and images.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from utils.checks import check_count
from utils.lime.core import (
    check_kernel_width,
    cosine_distance_to_original,
    exponential_kernel,
    fit_weighted_linear,
    forward_selection,
    highest_weights,
)

KERNEL_WIDTH = 25.0  # lime_text's default kernel width, for cosine distances x100 (DISTANCE_SCALE)
DISTANCE_SCALE = 100.0  # lime_text measures the cosine distance in percent

_SPLIT = re.compile(r"(\W+)|$")


class IndexedText:
    """A text cut into words and separators; ``remove(ids)`` drops every occurrence of those words."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not re.search(r"\w", text):
            raise ValueError("text must be a string with at least one word to explain.")
        self.text = text
        self.pieces = [p for p in _SPLIT.split(text) if p]
        self.words: list[str] = []  # distinct words, in order of first appearance
        self.positions: list[list[int]] = []
        index: dict[str, int] = {}
        for i, piece in enumerate(self.pieces):
            if _SPLIT.match(piece):
                continue  # a separator (spaces, punctuation)
            if piece not in index:
                index[piece] = len(self.words)
                self.words.append(piece)
                self.positions.append([])
            self.positions[index[piece]].append(i)

    def remove(self, word_ids: Sequence[int]) -> str:
        """The text without the given words (separators kept, as lime does)."""
        drop = {p for w in word_ids for p in self.positions[w]}
        return "".join(p for i, p in enumerate(self.pieces) if i not in drop)


@dataclass
class TextExplanation:
    """LIME weights for one text: ``weights[word]`` is the word's local effect on P(label)."""

    words: list[str]
    weights: dict[str, float]
    intercept: float
    score: float
    prediction: float
    masks: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    kernel_weights: np.ndarray = field(repr=False)

    def table(self) -> pd.DataFrame:
        """Words sorted by absolute weight, like the lecture's table."""
        frame = pd.DataFrame({"word": list(self.weights), "weight": list(self.weights.values())})
        return frame.reindex(frame["weight"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def sample_masks(n_words: int, num_samples: int, seed: int = 0) -> np.ndarray:
    """Step 1: ``(num_samples, n_words)`` 0/1 masks; row 0 keeps every word, the others drop 1..n words."""
    num_samples = check_count("num_samples", num_samples, minimum=2)
    if n_words < 1:
        raise ValueError(f"need at least 1 word to explain, got {n_words} words.")
    rng = np.random.RandomState(seed)
    sizes = rng.randint(1, n_words + 1, num_samples - 1)
    masks = np.ones((num_samples, n_words))
    for i, size in enumerate(sizes, start=1):
        masks[i, rng.choice(range(n_words), size, replace=False)] = 0
    return masks


def masked_texts(indexed: IndexedText, masks: np.ndarray) -> list[str]:
    """Step 2's input: the text with the words of each mask's zeros removed."""
    return [indexed.remove(np.flatnonzero(row == 0)) for row in masks]


def explain_text(text: str, predict_proba: Callable[[list[str]], np.ndarray], label: int = 1,
                 num_features: int = 10, num_samples: int = 5000, kernel_width: float = KERNEL_WIDTH,
                 seed: int = 0) -> TextExplanation:
    """LIME for one text, steps 1-4. Words are chosen as lime's ``feature_selection='auto'``:
    forward selection for up to 6 words, otherwise the highest weights of a full fit."""
    indexed = IndexedText(text)
    n = len(indexed.words)
    k = min(check_count("num_features", num_features), n)
    num_samples = check_count("num_samples", num_samples, minimum=2)
    check_kernel_width(kernel_width)
    masks = sample_masks(n, num_samples, seed)
    probs = np.asarray(predict_proba(masked_texts(indexed, masks)), dtype=float)
    if probs.ndim != 2 or probs.shape[0] != num_samples:
        raise ValueError(f"predict_proba must return (n_texts, n_classes) probabilities, got {probs.shape}.")
    if not 0 <= label < probs.shape[1]:
        raise ValueError(f"label {label} is not a class index of predict_proba's output ({probs.shape[1]} classes).")
    y = probs[:, label]
    kw = exponential_kernel(cosine_distance_to_original(masks, scale=DISTANCE_SCALE), kernel_width)  # step 3
    chosen = forward_selection(masks, y, kw, k) if k <= 6 else highest_weights(masks, y, kw, k)
    model, score = fit_weighted_linear(masks, y, kw, chosen)
    weights = {indexed.words[j]: float(w) for j, w in zip(chosen, model.coef_)}
    return TextExplanation(words=indexed.words, weights=weights, intercept=float(model.intercept_),
                           score=score, prediction=float(y[0]), masks=masks, probabilities=y,
                           kernel_weights=kw)


def lime_word_weights(explanation, label: int = 1) -> dict[str, float]:
    """``{word: weight}`` from a ``lime`` text ``Explanation``."""
    return dict(explanation.as_list(label=label))
