"""The spam lesson's data and classifier (introduced in notebook 03).

Data: a committed 1,000-message subset of the SpamAssassin public corpus
(data/text/spam_assassin_subset.csv; origin and licence in data/SOURCES.md): each message is
"<subject> | <first 40 words of the body>", labelled ham or spam. LIME for text is in
:mod:`utils.lime.text`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

SPAM_CSV = Path(__file__).resolve().parents[2] / "data" / "text" / "spam_assassin_subset.csv"
CLASS_NAMES = ("ham", "spam")


def load_spam(path: str | Path = SPAM_CSV) -> pd.DataFrame:
    """The committed SpamAssassin subset: columns label (ham/spam), source (corpus folder), id, text."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} not found; it is part of the repository (data/text/); rebuild it "
                         "with data/text/make_spam_subset.py or `git checkout data/text`.")
    frame = pd.read_csv(path, dtype={"id": str})
    if not {"label", "text"} <= set(frame.columns):
        raise ValueError(f"{path} needs columns 'label' and 'text', found {list(frame.columns)}.")
    return frame


def spam_split(frame: pd.DataFrame | None = None, test_size: float = 0.3, seed: int = 0):
    """``texts_train, texts_test, y_train, y_test`` with y = 1 for spam (stratified split)."""
    frame = load_spam() if frame is None else frame
    y = (frame["label"] == "spam").to_numpy(dtype=int)
    return train_test_split(frame["text"].tolist(), y, test_size=test_size, random_state=seed, stratify=y)


def mask_numbers(text: str) -> str:
    """Replace every run of digits by ``NUM`` (the fix for the year artefact in notebook 03)."""
    return re.sub(r"\d+", " NUM ", text.lower())


def train_spam_classifier(texts: Sequence[str], y: np.ndarray, C: float = 10.0,
                          preprocessor: Callable[[str], str] | None = None) -> Pipeline:
    """TF-IDF on words (2+ characters, seen in 2+ messages) + logistic regression.

    The solver runs to a tight tolerance (1e-8): at lbfgs' default (1e-4) it stops ~5e-4 (in P(spam))
    short of the optimum, at a point that could depend on the CPU's floating-point kernels.
    """
    if len(texts) != len(y):
        raise ValueError(f"{len(texts)} texts but {len(y)} labels; pass one label per text.")
    vectoriser = TfidfVectorizer(token_pattern=r"(?u)\b\w\w+\b", min_df=2, preprocessor=preprocessor)
    model = Pipeline([("tfidf", vectoriser), ("clf", LogisticRegression(C=C, tol=1e-8, max_iter=5000))])
    return model.fit(list(texts), y)


# --- LIME for text from scratch ------------------------------------------------------------------
