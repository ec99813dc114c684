"""Tabular data for the course: the Palmer penguins, their preprocessing and the models of 01-02.

Introduced in notebook 01 (interpretable models) and reused by notebook 02 (LIME for tabular data).
The task is binary on purpose, so a logistic regression's weights read as log-odds: is a penguin a
Chinstrap (1) or an Adelie (0)? The features mix the three kinds a practitioner meets:
numerical (bill, flipper, mass), binary (sex) and categorical (island).
The data are a committed copy of ``palmerpenguins``' CSV (data/tabular/penguins.csv, CC0), so
nothing here needs the network or the package at run time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

PENGUINS_CSV = Path(__file__).resolve().parents[2] / "data" / "tabular" / "penguins.csv"
NUMERICAL = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
BINARY = ["sex"]
CATEGORICAL = ["island"]
FEATURES = NUMERICAL + BINARY + CATEGORICAL
# Levels of the coded columns, reference level first: the weight of every other level is read
# relative to it, and a level's position is its integer code in the matrix LIME samples in.
LEVELS = {"sex": ["female", "male"], "island": ["Dream", "Biscoe", "Torgersen"]}
REFERENCE_LEVELS = {c: levels[0] for c, levels in LEVELS.items()}
TARGET_NAMES = ("Adelie", "Chinstrap")


def load_penguins(path: str | Path = PENGUINS_CSV) -> pd.DataFrame:
    """Return the full penguins table (344 rows, 8 columns), read from the committed CSV."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} not found; it is part of the repository (data/tabular/), "
                         "restore it with `git checkout data/tabular/penguins.csv`.")
    return pd.read_csv(path)


def penguin_task(frame: pd.DataFrame | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Return ``(X, y)`` for the course's binary task: Chinstrap (1) against Adelie (0).

    Rows with a missing value are dropped (11 of the Adelie/Chinstrap rows), Gentoo is left out.
    ``sex`` and ``island`` are pandas categoricals with the reference level first.
    """
    frame = load_penguins() if frame is None else frame
    missing = [c for c in FEATURES + ["species"] if c not in frame.columns]
    if missing:
        raise ValueError(f"the table lacks columns {missing}; pass the penguins table from load_penguins().")
    frame = frame[frame["species"].isin(TARGET_NAMES)].dropna(subset=FEATURES).reset_index(drop=True)
    X = frame[FEATURES].copy()
    for c, levels in LEVELS.items():
        X[c] = pd.Categorical(X[c], categories=levels)
    y = (frame["species"] == "Chinstrap").to_numpy(dtype=int)
    return X, y


def split(X: pd.DataFrame, y: np.ndarray, test_size: float = 0.3, seed: int = 0):
    """Stratified train/test split: ``X_train, X_test, y_train, y_test``."""
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)


def make_preprocessor(standardise: bool = True) -> ColumnTransformer:
    """One-hot encode ``sex``/``island`` dropping the reference level, standardise numbers.

    Dropping the reference level is what makes each remaining weight readable as
    "this level compared with the reference"; without it the columns are collinear with the bias.
    """
    drop = [REFERENCE_LEVELS[c] for c in BINARY + CATEGORICAL]
    categories = [LEVELS[c] for c in BINARY + CATEGORICAL]
    numeric = StandardScaler() if standardise else "passthrough"
    return ColumnTransformer(
        [("num", numeric, NUMERICAL),
         ("cat", OneHotEncoder(categories=categories, drop=drop), BINARY + CATEGORICAL)],
        verbose_feature_names_out=False,
    )


def logistic_regression(C: float = 1.0) -> LogisticRegression:
    """An L2 logistic regression solved exactly (Newton), so its weights are the same on every CPU."""
    return LogisticRegression(C=C, solver="newton-cholesky", tol=1e-10, max_iter=100)


def train_logistic_regression(X: pd.DataFrame, y: np.ndarray, standardise: bool = True,
                              C: float = 1.0) -> Pipeline:
    """Preprocessing + L2 logistic regression (notebook 01's glass box, notebook 02's ground truth).

    Fitted with Newton's method (``newton-cholesky``) to its exact optimum: lbfgs stops at a tolerance
    that leaves the weights ~1e-3 from the optimum, at a point that depends on the CPU's BLAS kernels,
    so the printed weights would change in the fourth digit from one machine to the next.
    """
    model = Pipeline([("prep", make_preprocessor(standardise)),
                      ("clf", logistic_regression(C))])
    return model.fit(X, y)


def train_decision_tree(X: pd.DataFrame, y: np.ndarray, max_depth: int | None = 3,
                        seed: int = 0) -> Pipeline:
    """Preprocessing (no scaling: thresholds stay in mm and g) + a decision tree."""
    model = Pipeline([("prep", make_preprocessor(standardise=False)),
                      ("clf", DecisionTreeClassifier(max_depth=max_depth, random_state=seed))])
    return model.fit(X, y)


def train_random_forest(X: pd.DataFrame, y: np.ndarray, seed: int = 0,
                        n_estimators: int = 200) -> Pipeline:
    """Preprocessing + a random forest: the black box explained in notebook 02."""
    model = Pipeline([("prep", make_preprocessor(standardise=False)),
                      ("clf", RandomForestClassifier(n_estimators=n_estimators, min_samples_leaf=3,
                                                     random_state=seed, n_jobs=1))])
    return model.fit(X, y)


def transformed_feature_names(model: Pipeline) -> list[str]:
    """Names of the columns the classifier sees, e.g. ``island_Biscoe`` (reference level dropped)."""
    return list(model.named_steps["prep"].get_feature_names_out())


def logistic_contributions(model: Pipeline, row: pd.DataFrame) -> pd.Series:
    """Split one prediction's log-odds into bias + weight x value per (transformed) feature.

    The entries sum exactly to the model's log-odds for that row (checked by the tests).
    """
    if len(row) != 1:
        raise ValueError(f"pass exactly one row (e.g. X.iloc[[i]]), got {len(row)}.")
    z = np.asarray(model.named_steps["prep"].transform(row), dtype=float)[0]
    clf = model.named_steps["clf"]
    contrib = pd.Series(clf.coef_[0] * z + 0.0, index=transformed_feature_names(model))  # + 0.0: no "-0.00"
    return pd.concat([pd.Series({"bias": clf.intercept_[0]}), contrib])


# --- the integer-coded view LIME works on -------------------------------------------------------

def encode_codes(X: pd.DataFrame) -> np.ndarray:
    """Numbers as they are, categoricals as their integer codes: the float matrix LIME samples in."""
    missing = [c for c in FEATURES if c not in X.columns]
    if missing:
        raise ValueError(f"X lacks columns {missing}; build it with penguin_task().")
    out = X[FEATURES].copy()
    for c in BINARY + CATEGORICAL:
        if not isinstance(out[c].dtype, pd.CategoricalDtype):
            raise ValueError(f"column {c!r} must be categorical; build X with penguin_task().")
        out[c] = out[c].cat.codes
    return out.to_numpy(dtype=float)


def decode_codes(codes: np.ndarray) -> pd.DataFrame:
    """Inverse of :func:`encode_codes` (codes are rounded, so sampled values map to a level)."""
    codes = np.atleast_2d(np.asarray(codes, dtype=float))
    if codes.shape[1] != len(FEATURES):
        raise ValueError(f"expected {len(FEATURES)} columns ({FEATURES}), got {codes.shape[1]}.")
    X = pd.DataFrame(codes[:, :len(NUMERICAL)], columns=NUMERICAL)
    for j, levels in categorical_names().items():
        X[FEATURES[j]] = pd.Categorical.from_codes(codes[:, j].round().astype(int), levels)
    return X


def categorical_names() -> dict[int, list[str]]:
    """``{column index: level names}`` for the coded matrix (what ``LimeTabularExplainer`` wants)."""
    return {FEATURES.index(c): levels for c, levels in LEVELS.items()}


def proba_on_codes(model: Pipeline):
    """Wrap a fitted pipeline as ``f(codes) -> probabilities``, the black box LIME queries."""
    def predict(codes: np.ndarray) -> np.ndarray:
        return model.predict_proba(decode_codes(codes))
    return predict


# --- reading a fitted decision tree (notebook 01) ------------------------------------------------

def decision_path_text(model: Pipeline, row: pd.DataFrame) -> list[str]:
    """The tests a tree applies to one row, in words, ending with the leaf's class and purity."""
    if len(row) != 1:
        raise ValueError(f"pass exactly one row (e.g. X.iloc[[i]]), got {len(row)}.")
    z = np.asarray(model.named_steps["prep"].transform(row), dtype=float)
    tree = model.named_steps["clf"].tree_
    names = transformed_feature_names(model)
    steps = []
    for node in model.named_steps["clf"].decision_path(z).indices:
        if tree.children_left[node] == -1:  # a leaf
            counts = tree.value[node][0]
            share = counts / counts.sum()
            label = int(np.argmax(share))
            steps.append(f"leaf: predict {TARGET_NAMES[label]} ({share[label]:.0%} of the training "
                         f"penguins that reach this leaf, n={int(tree.n_node_samples[node])})")
            continue
        f, t = tree.feature[node], tree.threshold[node]
        went = "<=" if z[0, f] <= t else ">"
        steps.append(f"{names[f]} = {z[0, f]:g} {went} {t:g}")
    return steps


def tree_counterfactuals(model: Pipeline, row: pd.DataFrame, scale: pd.Series,
                         features: tuple[str, ...] = tuple(NUMERICAL), margin: float = 0.1,
                         max_changed: int = 2) -> pd.DataFrame:
    """Smallest changes of one or two numerical features that flip a tree's prediction.

    Candidates are the tree's own thresholds for each feature, just crossed by ``margin`` (in the
    feature's units); a change's size is its distance in standard deviations (``scale``). Every
    candidate is verified by predicting again; only verified flips are returned, smallest first.
    """
    if len(row) != 1:
        raise ValueError(f"pass exactly one row (e.g. X.iloc[[i]]), got {len(row)}.")
    unknown = [f for f in features if f not in NUMERICAL]
    if unknown:
        raise ValueError(f"counterfactuals change numerical features only; {unknown} is not one of {NUMERICAL}.")
    clf, names = model.named_steps["clf"], transformed_feature_names(model)
    original = int(model.predict(row)[0])
    candidates: dict[str, list[float]] = {}
    for f in features:
        thresholds = clf.tree_.threshold[clf.tree_.feature == names.index(f)]
        candidates[f] = sorted({t + s * margin for t in thresholds for s in (-1, 1)})
    changes = [((f,), (v,)) for f in features for v in candidates[f]]
    if max_changed >= 2:
        changes += [((f, g), (v, w)) for i, f in enumerate(features) for g in features[i + 1:]
                    for v in candidates[f] for w in candidates[g]]
    found = []
    for feats, values in changes:
        new = row.copy()
        for f, v in zip(feats, values):
            new[f] = v
        if int(model.predict(new)[0]) != original:
            size = float(np.sqrt(sum(((v - row[f].iloc[0]) / scale[f]) ** 2 for f, v in zip(feats, values))))
            found.append({"change": ", ".join(f"{f}: {row[f].iloc[0]:g} -> {v:g}" for f, v in zip(feats, values)),
                          "n_features": len(feats), "size_sd": size,
                          "new_class": TARGET_NAMES[1 - original]})
    frame = pd.DataFrame(found, columns=["change", "n_features", "size_sd", "new_class"])
    return frame.sort_values("size_sd").reset_index(drop=True)
