"""Unit tests of utils.text: the spam data and LIME for text from scratch (notebook 03)."""
import numpy as np
import pytest
from lime.lime_text import LimeTextExplainer

from utils import text as TX
from utils.lime import text as LT


@pytest.fixture(scope="module")
def model():
    tr, te, ytr, yte = TX.spam_split()
    return TX.train_spam_classifier(tr, ytr), te, yte


def test_subset_is_balanced_and_classifier_learns(model):
    frame = TX.load_spam()
    assert len(frame) == 1000 and (frame["label"] == "spam").sum() == 500
    clf, te, yte = model
    assert clf.score(te, yte) > 0.9


def test_classifier_is_fitted_close_to_its_optimum(model):
    """A tight tolerance: the gradient of the L2 logistic objective is ~1e-5 (lbfgs' default leaves ~0.4)."""
    clf, _, _ = model
    texts, _, y, _ = TX.spam_split()
    Z = clf.named_steps["tfidf"].transform(texts)
    lr = clf.named_steps["clf"]
    p = lr.predict_proba(Z)[:, 1]
    gradient = np.r_[lr.C * (Z.T @ (p - y)) + lr.coef_[0], lr.C * (p - y).sum()]
    assert np.abs(gradient).max() < 1e-3


def test_indexed_text_removes_every_occurrence_and_keeps_separators():
    t = LT.IndexedText("free money, free!")
    assert t.words == ["free", "money"]
    assert t.remove([0]) == " money, !"


def test_kernel_weights_are_the_cores_on_distances_x100():
    """Text's kernel is the core's exponential kernel on cosine distances x100 with lime_text's width 25."""
    from utils.lime import core

    masks = LT.sample_masks(5, num_samples=20, seed=3)
    exp = LT.explain_text("one two three four five", lambda t: np.c_[np.ones(len(t)) / 2, np.ones(len(t)) / 2],
                          num_samples=20, seed=3, num_features=2)
    np.testing.assert_array_equal(exp.masks, masks)
    distances = core.cosine_distance_to_original(masks, scale=LT.DISTANCE_SCALE)
    np.testing.assert_array_equal(exp.kernel_weights, core.exponential_kernel(distances, LT.KERNEL_WIDTH))
    # Keeping 1 of 5 words: distance 100 (1 - 1/sqrt(5)).
    d = 100 * (1 - 1 / np.sqrt(5))
    assert core.cosine_distance_to_original(np.array([[1, 0, 0, 0, 0]]), scale=100)[0] == pytest.approx(d)


def _keyword_box(texts):
    """A black box that says spam exactly when the word 'free' is present."""
    p = np.array([0.9 if "free" in t.split() else 0.1 for t in texts])
    return np.c_[1 - p, p]


def test_known_answer_keyword_black_box():
    exp = LT.explain_text("get free stuff now today", _keyword_box, num_features=5, num_samples=2000)
    table = exp.table()
    assert table.loc[0, "word"] == "free" and table.loc[0, "weight"] == pytest.approx(0.8, abs=0.05)
    assert table["weight"].iloc[1:].abs().max() < 0.02


def test_reproducible_for_a_seed(model):
    clf = model[0]
    doc = "Click here for FREE money, visit my channel now"
    a = LT.explain_text(doc, clf.predict_proba, num_samples=300, seed=1).weights
    b = LT.explain_text(doc, clf.predict_proba, num_samples=300, seed=1).weights
    c = LT.explain_text(doc, clf.predict_proba, num_samples=300, seed=2).weights
    assert a == b and a != c


@pytest.mark.parametrize("k", [4, 10])
def test_matches_lime_text_with_the_same_random_stream(model, k):
    clf = model[0]
    doc = "For Christmas Song visit my channel! ;) free free money here"
    ours = LT.explain_text(doc, clf.predict_proba, num_features=k, num_samples=800, seed=5)
    lib = LimeTextExplainer(class_names=TX.CLASS_NAMES, random_state=5)
    theirs = LT.lime_word_weights(lib.explain_instance(doc, clf.predict_proba, num_features=k, num_samples=800))
    assert set(ours.weights) == set(theirs)
    assert max(abs(ours.weights[w] - theirs[w]) for w in theirs) < 1e-10


def test_mask_numbers_hides_years():
    assert TX.mask_numbers("On 2002-08-19") == TX.mask_numbers("On 2024-01-01")


def test_bad_inputs_raise_value_error(model):
    clf = model[0]
    with pytest.raises(ValueError, match="at least one word"):
        LT.explain_text(" ;) ", clf.predict_proba)
    with pytest.raises(ValueError, match="label"):
        LT.explain_text("free money", clf.predict_proba, label=5, num_samples=20)
    with pytest.raises(ValueError, match="kernel_width must be a positive number"):
        LT.exponential_kernel(np.ones(2), -1)
    for options, match in (({"num_samples": 2.5}, "num_samples"), ({"num_samples": 1}, "num_samples"),
                           ({"num_features": 0}, "num_features"), ({"num_features": 2.5}, "num_features"),
                           ({"kernel_width": "a"}, "kernel_width"), ({"kernel_width": 0}, "kernel_width")):
        with pytest.raises(ValueError, match=match) as error:
            LT.explain_text("free money", clf.predict_proba, **options)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="num_samples"):
        LT.sample_masks(3, num_samples=True)
    with pytest.raises(ValueError, match="labels"):
        TX.train_spam_classifier(["a b"], np.array([0, 1]))
    with pytest.raises(ValueError, match="not found"):
        TX.load_spam("no/such/file.csv")
