"""Unit tests of utils.tabular and utils.lime.tabular (notebooks 01-02)."""
import numpy as np
import pandas as pd
import pytest
from lime.lime_tabular import LimeTabularExplainer

from utils import tabular as T
from utils.lime import tabular as L


@pytest.fixture(scope="module")
def task():
    X, y = T.penguin_task()
    return T.split(X, y)


def test_penguin_task_shape_and_kinds():
    X, y = T.penguin_task()
    assert X.shape == (214, 6) and set(np.unique(y)) == {0, 1}
    assert isinstance(X["island"].dtype, pd.CategoricalDtype) and X["island"].cat.categories[0] == "Dream"


def test_one_hot_drops_reference_levels(task):
    Xtr, _, ytr, _ = task
    names = T.transformed_feature_names(T.train_logistic_regression(Xtr, ytr))
    assert "sex_male" in names and "sex_female" not in names and "island_Dream" not in names


def test_contributions_sum_to_log_odds(task):
    Xtr, Xte, ytr, _ = task
    model = T.train_logistic_regression(Xtr, ytr)
    row = Xte.iloc[[3]]
    p = model.predict_proba(row)[0, 1]
    assert T.logistic_contributions(model, row).sum() == pytest.approx(np.log(p / (1 - p)))


def _penalised_gradient(clf, Z, y):
    """Gradient of sklearn's L2 logistic objective, C * sum(log-loss) + |w|^2 / 2, at the fitted weights."""
    p = clf.predict_proba(Z)[:, 1]
    return np.r_[clf.C * (Z.T @ (p - y)) + clf.coef_[0], clf.C * (p - y).sum()]


@pytest.mark.parametrize("standardise", [True, False])
def test_logistic_regression_is_fitted_to_its_optimum(task, standardise):
    """At the exact optimum the weights do not depend on where the solver stopped (nor on the CPU)."""
    Xtr, _, ytr, _ = task
    model = T.train_logistic_regression(Xtr, ytr, standardise=standardise)
    Z = np.asarray(model.named_steps["prep"].transform(Xtr), dtype=float)
    assert np.abs(_penalised_gradient(model.named_steps["clf"], Z, ytr)).max() < 1e-8


def test_codes_round_trip(task):
    Xtr = task[0]
    back = T.decode_codes(T.encode_codes(Xtr))
    assert (back["island"].astype(str).to_numpy() == Xtr["island"].astype(str).to_numpy()).all()
    np.testing.assert_allclose(back[T.NUMERICAL].to_numpy(), Xtr[T.NUMERICAL].to_numpy())


def test_bad_inputs_raise_value_error(task):
    Xtr = task[0]
    with pytest.raises(ValueError, match="columns"):
        T.penguin_task(pd.DataFrame({"a": [1]}))
    with pytest.raises(ValueError, match="exactly one row"):
        T.logistic_contributions(T.train_logistic_regression(*task[::2]), Xtr.iloc[:2])
    with pytest.raises(ValueError, match="columns"):
        T.decode_codes(np.zeros((2, 3)))
    A = T.encode_codes(Xtr)
    def f(Z):
        return np.c_[1 - Z[:, 0] * 0, Z[:, 0] * 0]
    with pytest.raises(ValueError, match="one row"):
        L.explain_tabular(A[:2], f, A)
    with pytest.raises(ValueError, match="NaN"):
        L.explain_tabular(A[0], f, np.where(A > 1e9, 0, np.nan))
    with pytest.raises(ValueError, match="positive"):
        L.exponential_kernel(np.ones(3), 0)
    with pytest.raises(ValueError, match="num_features"):
        L.explain_tabular(A[0], f, A, num_features=9, num_samples=50)


@pytest.mark.parametrize("options, match", [({"num_samples": 2.5}, "num_samples"), ({"num_samples": 1}, "num_samples"),
                                            ({"num_samples": True}, "num_samples"),
                                            ({"num_features": 2.5}, "num_features"),
                                            ({"kernel_width": "a"}, "kernel_width"),
                                            ({"kernel_width": -1.0}, "kernel_width"),
                                            ({"kernel_width": float("inf")}, "kernel_width")])
def test_bad_counts_and_widths_give_one_line_errors(task, options, match):
    A = T.encode_codes(task[0])
    with pytest.raises(ValueError, match=match) as error:
        L.explain_tabular(A[0], lambda Z: np.c_[np.ones(len(Z)), np.zeros(len(Z))], A, **options)
    assert "\n" not in str(error.value)


def _linear_black_box(coef):
    """P(class 1) = 0.5 + x . coef, a black box whose local slopes are known exactly."""
    def predict(Z):
        p = np.clip(0.5 + Z @ coef, 0, 1)
        return np.c_[1 - p, p]
    return predict


def test_recovers_linear_coefficients_sign_and_order():
    rng = np.random.RandomState(0)
    train = rng.normal(size=(500, 4))
    coef = np.array([0.08, -0.04, 0.02, 0.0])
    exp = L.explain_tabular(train[0], _linear_black_box(coef), train, num_samples=4000, seed=0,
                            kernel_width=3.0)
    w = exp.as_array(4) / train.std(axis=0)  # LIME's weights are per standard deviation
    np.testing.assert_allclose(w, coef, atol=2e-3)
    assert list(np.argsort(-np.abs(w))[:3]) == [0, 1, 2]
    assert exp.score > 0.99


def test_same_seed_same_weights_other_seed_other_weights(task):
    Xtr, Xte, ytr, _ = task
    f = T.proba_on_codes(T.train_logistic_regression(Xtr, ytr))
    A = T.encode_codes(Xtr)
    x = T.encode_codes(Xte)[0]
    a = L.explain_tabular(x, f, A, [4, 5], num_samples=500, seed=3).as_array(6)
    b = L.explain_tabular(x, f, A, [4, 5], num_samples=500, seed=3).as_array(6)
    c = L.explain_tabular(x, f, A, [4, 5], num_samples=500, seed=4).as_array(6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("num_features", [3, None])
def test_matches_lime_library_with_the_same_random_stream(task, num_features):
    Xtr, Xte, ytr, _ = task
    f = T.proba_on_codes(T.train_logistic_regression(Xtr, ytr))
    A, x = T.encode_codes(Xtr), T.encode_codes(Xte)[5]
    ours = L.explain_tabular(x, f, A, [4, 5], num_features=num_features, num_samples=1000, seed=7)
    lib = LimeTabularExplainer(A, categorical_features=[4, 5], discretize_continuous=False, random_state=7)
    theirs = lib.explain_instance(x, f, num_features=num_features or 6, num_samples=1000)
    np.testing.assert_allclose(ours.as_array(6), L.lime_library_weights(theirs, 1, 6), atol=1e-10)
    assert ours.score == pytest.approx(theirs.score)


def test_kernel_is_one_at_zero_and_decreasing():
    k = L.exponential_kernel(np.array([0.0, 1.0, 2.0]), 1.5)
    assert k[0] == 1.0 and k[0] > k[1] > k[2] > 0
    assert k[2] == pytest.approx(np.exp(-0.5 * (2.0 / 1.5) ** 2))  # sqrt(exp(-d^2 / w^2))


# --------------------------------------------------------------------------- the LIME core (utils.lime.core)
def test_every_lime_uses_the_one_core():
    from utils.lime import core
    from utils.lime import image as LI
    from utils.lime import text as LT

    for name in ("exponential_kernel", "fit_weighted_linear", "forward_selection"):
        assert getattr(L, name) is getattr(core, name)
    for name in ("exponential_kernel", "cosine_distance_to_original", "fit_weighted_linear", "highest_weights"):
        assert getattr(LI, name) is getattr(core, name) and getattr(LT, name) is getattr(core, name)
    assert "utils.lime.tabular" not in {getattr(v, "__module__", None) for v in vars(LI).values()}


def test_cosine_distance_to_original_is_sklearns_cosine():
    from sklearn.metrics.pairwise import pairwise_distances

    from utils.lime.core import cosine_distance_to_original

    masks = np.random.default_rng(0).integers(0, 2, (50, 7)).astype(float)
    masks[0] = 1
    masks[1] = 0
    expected = pairwise_distances(masks, masks[:1], metric="cosine").ravel()  # what lime computes
    assert expected[1] == 1.0  # an all-hidden row: distance 1 in both
    np.testing.assert_allclose(cosine_distance_to_original(masks), expected, atol=1e-12)
    np.testing.assert_allclose(cosine_distance_to_original(masks, scale=100), 100 * expected, atol=1e-10)
    # One of k kept features out of K: 1 - sqrt(k / K).
    assert cosine_distance_to_original(np.array([[1, 0, 0, 0]]))[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="2-D"):
        cosine_distance_to_original(np.ones(4))


def test_highest_weights_and_forward_selection_find_the_informative_columns():
    from utils.lime.core import fit_weighted_linear, forward_selection, highest_weights

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5))
    X[0] = 1.0
    y = 3.0 * X[:, 2] - 1.0 * X[:, 4] + 0.01 * rng.normal(size=300)
    w = np.ones(300)
    assert highest_weights(X, y, w, 2) == [2, 4]
    assert forward_selection(X, y, w, 2) == [2, 4]
    model, r2 = fit_weighted_linear(X, y, w, [2, 4])
    np.testing.assert_allclose(model.coef_, [3.0, -1.0], atol=0.02)
    assert r2 > 0.999


def test_plots_draw_and_reject_empty_input():
    import matplotlib
    matplotlib.use("Agg")
    from utils.tabular.plots import plot_waterfall, plot_weights
    ax = plot_waterfall({"bias": -1.0, "a": 2.0, "b": 0.5})
    assert len(ax.patches) == 4  # three steps and the total
    assert len(plot_weights({"x": 1.0, "y": -2.0}).patches) == 2
    with pytest.raises(ValueError):
        plot_weights({})


def test_tree_path_and_counterfactual_flip_the_prediction(task):
    Xtr, Xte, ytr, _ = task
    tree = T.train_decision_tree(Xtr, ytr, max_depth=3)
    row = Xte.iloc[[0]]
    path = T.decision_path_text(tree, row)
    assert path[-1].startswith("leaf: predict")
    flips = T.tree_counterfactuals(tree, row, Xtr[T.NUMERICAL].std())
    assert len(flips) > 0 and flips["size_sd"].is_monotonic_increasing
    best = flips.iloc[0]
    new = row.copy()
    for part in best["change"].split(", "):
        f, v = part.split(": ")
        new[f] = float(v.split(" -> ")[1])
    assert tree.predict(new)[0] != tree.predict(row)[0]
    with pytest.raises(ValueError, match="numerical"):
        T.tree_counterfactuals(tree, row, Xtr[T.NUMERICAL].std(), features=("island",))
