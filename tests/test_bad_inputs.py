"""Bad options give one-line ValueErrors that name the option, before the model is called.

The options are those of the public functions a student calls (explainers and metrics); every case
runs on a tiny CNN from tests/helpers_models.py, so nothing here needs a weights file.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers_models import plain_cnn

from utils.evaluation import metrics
from utils.explain import METHODS, base, count_model_calls
from utils.explain.integrated_gradients import integrated_gradients_adaptive, integrated_gradients_result

base.SHOW_PROGRESS = False
SIZE = 32


@pytest.fixture(scope="module")
def model():
    return plain_cnn("activation_softmax", size=SIZE, classes=3)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def saliency():
    return np.random.default_rng(1).random((SIZE, SIZE))


def fails_in_one_line(match: str, call) -> str:
    """Run ``call()``; it must raise a one-line ValueError matching ``match`` without evaluating the model."""
    with count_model_calls() as calls, pytest.raises(ValueError, match=match) as err:
        call()
    message = str(err.value)
    assert len(message.splitlines()) == 1, message
    assert calls[0] == 0, f"{calls[0]} model calls before the error: {message}"
    return message


@pytest.mark.parametrize("name, options, match", [
    ("rise", {"num_samples": 0}, "num_samples"),
    ("rise", {"num_samples": -1}, "num_samples"),
    ("rise", {"num_samples": 2.5}, "num_samples"),
    ("rise", {"num_samples": True}, "num_samples"),
    ("rise", {"p_keep": 0}, "p_keep"),
    ("rise", {"p_keep": 1.5}, "p_keep"),
    ("rise", {"p_keep": "half"}, "p_keep"),
    ("occlusion", {"window": 0}, "window"),
    ("occlusion", {"window": SIZE + 1}, "window=33 is larger than the image"),
    ("occlusion", {"stride": 0}, "stride"),
    ("lime", {"num_samples": 0}, "num_samples"),
    ("lime", {"kernel_width": "a"}, "kernel_width"),
    ("kernel_shap", {"num_samples": 0}, "num_samples"),
    ("smoothgrad", {"noise_level": -0.1}, "noise_level"),
    ("smoothgrad", {"noise_level": float("nan")}, "noise_level"),
    ("smoothgrad", {"num_samples": 0}, "num_samples"),
    ("integrated_gradients", {"num_samples": 0}, "num_samples"),
    ("integrated_gradients", {"num_baselines": 0}, "num_baselines"),
    ("integrated_gradients", {"baseline": "grey"}, "Unknown baseline 'grey'"),
    ("score_cam", {"num_samples": 0}, "num_samples"),
    ("score_cam", {"num_samples": 1.5}, "num_samples"),
    ("grad_cam", {"layer": "conv9"}, "no layer named 'conv9'"),
])
def test_explainer_options(model, image, name, options, match):
    fails_in_one_line(match, lambda: METHODS[name](model, image, 0, **options))


@pytest.mark.parametrize("options, match", [
    ({"start_samples": 64, "max_samples": 32}, r"start_samples \(64\) is larger than max_samples \(32\)"),
    ({"start_samples": 0}, "start_samples"),
    ({"max_samples": 64.5}, "max_samples"),
    ({"tolerance": 0}, "tolerance"),
    ({"output": "logits"}, "output must be 'logit'"),
])
def test_adaptive_integrated_gradients(model, image, options, match):
    fails_in_one_line(match, lambda: integrated_gradients_adaptive(model, image, 0, **options))


@pytest.mark.parametrize("steps", [0, -1, 2.5, True])
def test_deletion_insertion_steps(model, image, saliency, steps):
    fails_in_one_line("steps", lambda: metrics.deletion_insertion(model, image, saliency, 0, steps=steps))


@pytest.mark.parametrize("budgets, match", [((8, 0), "num_samples"), ((), "at least one"), ((8, 12), "multiple"),
                                             (16, "lists the budgets")])
def test_completeness_curve_budgets(model, image, budgets, match):
    from utils.explain.integrated_gradients import completeness_curve

    fails_in_one_line(match, lambda: completeness_curve(model, image, 0, num_samples=budgets))


@pytest.mark.parametrize("fraction", [0, 0.6, "0.1", None])
def test_prediction_gaps_fraction(model, image, saliency, fraction):
    fails_in_one_line("fraction", lambda: metrics.prediction_gaps(model, image, saliency, 0, fraction=fraction))


@pytest.mark.parametrize("options, match", [
    ({"num_samples": 0}, "num_samples"), ({"num_samples": 2.5}, "num_samples"), ({"noise_std": -1}, "noise_std"),
    ({"output": "logits"}, "output must be 'logit'"), ({"batch_size": 0}, "batch_size"),
])
def test_prediction_gaps_options(model, image, saliency, options, match):
    fails_in_one_line(match, lambda: metrics.prediction_gaps(model, image, saliency, 0, **options))


@pytest.mark.parametrize("fraction", [0, 1, "half"])
def test_faithfulness_correlation_subset_fraction(model, image, saliency, fraction):
    fails_in_one_line("subset_fraction", lambda: metrics.faithfulness_correlation(model, image, saliency, 0,
                                                                                  subset_fraction=fraction))


@pytest.mark.parametrize("options, match", [
    ({"num_samples": 2}, ">= 3"), ({"num_samples": 3.5}, "num_samples"), ({"num_samples": "128"}, "num_samples"),
    ({"output": "probabilities"}, "output must be 'logit'"), ({"baseline": "grey"}, "Unknown baseline"),
])
def test_faithfulness_correlation_options(model, image, saliency, options, match):
    fails_in_one_line(match, lambda: metrics.faithfulness_correlation(model, image, saliency, 0, **options))


@pytest.mark.parametrize("options, match", [
    ({"output": "logits"}, "output must be 'logit'"), ({"deletion_baseline": "grey"}, "Unknown baseline"),
    ({"insertion_baseline": 300}, r"\[0, 255\]"),
])
def test_deletion_insertion_options(model, image, saliency, options, match):
    fails_in_one_line(match, lambda: metrics.deletion_insertion(model, image, saliency, 0, **options))


@pytest.mark.parametrize("layers, match", [
    ([["conv9"]], "Cannot randomise layer 'conv9': it does not exist"),
    ([["relu1"]], "Cannot randomise layer 'relu1': it holds no weights"),
    (["conv1"], r"list of groups of layer names, e\.g\. \[\['conv1'\]\]"),
])
def test_randomisation_check_layers(model, image, layers, match):
    message = fails_in_one_line(match, lambda: metrics.model_randomisation_check("saliency", model, image, 0,
                                                                                layers=layers))
    assert "weighted_layers" in message or "groups" in message


@pytest.mark.parametrize("stages", [0, -2, 1.5])
def test_randomisation_check_stages(model, image, stages):
    fails_in_one_line("stages", lambda: metrics.model_randomisation_check("saliency", model, image, 0,
                                                                         stages=stages))


def test_stability_and_seed_spread_counts(model, image):
    fails_in_one_line("num_samples", lambda: metrics.noise_stability("saliency", model, image, 0, num_samples=0))
    fails_in_one_line("noise_std", lambda: metrics.noise_stability("saliency", model, image, 0, noise_std=-1.0))
    fails_in_one_line("dict of the method's own options",
                      lambda: metrics.noise_stability("rise", model, image, 0, options=[("num_samples", 8)]))
    fails_in_one_line("two seeds", lambda: metrics.seed_spread("rise", model, image, 0, seeds=(0,)))
    fails_in_one_line("takes no seed", lambda: metrics.seed_spread("saliency", model, image, 0))


@pytest.mark.parametrize("options, match", [
    ({"num_samples": 0}, "num_samples"), ({"output": "prob"}, "output must be 'logit'"), ({"seed": -1}, "seed"),
])
def test_integrated_gradients_result(model, image, options, match):
    fails_in_one_line(match, lambda: integrated_gradients_result(model, image, 0, **options))
