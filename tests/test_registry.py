"""The explainer registry: every method in METHODS, whatever its name, meets one contract.

Parametrized over ``sorted(METHODS)``, so a new method is covered without editing this file
(``test_a_new_module_is_discovered_and_covered`` shows it with a throwaway method). Runs on a tiny CNN
whose first layer counts the images it sees, so the model-call count is checked against what the
model really evaluated.
"""
from __future__ import annotations

import inspect
import pydoc
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import utils.explain
from utils.explain import METHODS, Explainer, ExplainerInfo, base, count_model_calls, explainer
from utils.explain.base import OUTPUTS
from utils.explain.registry import FAMILIES, import_modules

base.SHOW_PROGRESS = False
SIZE, CLASSES = 32, 3
# Options under which a stochastic method's seed changes the map, where its defaults use no randomness
# (Integrated Gradients samples only with a noise baseline).
SEED_MATTERS_WITH = {"integrated_gradients": {"baseline": "noise"}}
# The score each method explains by default (what it did before ``output`` existed): the perturbation family
# and Score-CAM the probability, every gradient of the model the logit.
DEFAULT_OUTPUT = {"lime": "probability", "kernel_shap": "probability", "occlusion": "probability",
                  "rise": "probability", "score_cam": "probability"}
BUDGETED = {"lime", "kernel_shap", "rise", "smoothgrad", "integrated_gradients", "score_cam"}


class CountImages(keras.layers.Layer):
    """Identity that adds the number of images it sees to a variable (inside compiled graphs too)."""

    def build(self, input_shape):
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, dtype="int64", name="seen")

    def call(self, x):
        self.seen.assign_add(tf.cast(tf.shape(x)[0], "int64"))
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


def counting_cnn(seed: int = 0) -> keras.Model:
    """A small CNN in the zoo's layout (raw pixels in, logits layer, separate softmax) that counts its inputs."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = CountImages(name="count")(inputs)
    x = keras.layers.Rescaling(1 / 255, name="scale")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits), name="counting_cnn")


def dense_model(seed: int = 0) -> keras.Model:
    """A classifier without any convolution (flatten, dense): CAM methods do not apply to it."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Flatten(name="flat")(keras.layers.Rescaling(1 / 255, name="scale")(inputs))
    x = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    logits = keras.layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits), name="dense_only")


@pytest.fixture(scope="module")
def model():
    return counting_cnn()


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)


# --------------------------------------------------------------------------- checks shared with the throwaway
def check_info(method: Explainer) -> None:
    """The metadata is complete and agrees with the function it describes."""
    info = method.info
    assert isinstance(method, Explainer) and isinstance(info, ExplainerInfo)
    assert METHODS[info.name] is method
    assert info.family in FAMILIES
    for flag in (info.signed, info.stochastic, info.needs_gradients, info.needs_conv_layer):
        assert isinstance(flag, bool)
    params = list(inspect.signature(method.__wrapped__).parameters)
    assert params[:3] == ["model", "image", "target"] and info.options == tuple(params[3:])
    assert info.budget is None or info.budget in info.options
    assert set(info.quick) <= set(info.options)
    assert info.stochastic == ("seed" in info.options)
    assert not info.needs_conv_layer or "layer" in info.options
    assert "output" in info.options, "every explainer takes output ('logit' or 'probability')"
    assert inspect.signature(method.__wrapped__).parameters["output"].default in OUTPUTS
    assert info.budget in (None, "num_samples"), "the budget of every method is called num_samples"
    with pytest.raises(TypeError):
        info.quick["new_option"] = 1  # read-only: a caller cannot change the registry's quick settings


def check_wrapper(method: Explainer) -> None:
    """Name, docstring, signature and help() are the function's."""
    fn = method.__wrapped__
    assert method.__name__ == fn.__name__ and method.__doc__ == fn.__doc__ and method.__module__ == fn.__module__
    assert inspect.signature(method) == inspect.signature(fn)
    text = pydoc.render_doc(method, renderer=pydoc.plaintext)
    assert f"{fn.__name__}{inspect.signature(fn)}" in text and fn.__doc__.strip().splitlines()[0] in text


def run(method: Explainer, model: keras.Model, image: np.ndarray, **options) -> np.ndarray:
    """The method at its quick settings (plus ``options``), with a check of the map's contract."""
    saliency = method(model, image, 0, **{**method.info.quick, **options})
    assert isinstance(saliency, np.ndarray) and saliency.shape == image.shape[:2] and saliency.dtype == np.float32
    assert np.isfinite(saliency).all()
    if not method.info.signed:
        assert saliency.min() >= 0, "an importance-only map has no negative values"
    return saliency


def check_seeds(method: Explainer, model: keras.Model, image: np.ndarray) -> None:
    """Same options (and seed) give the same map; for a sampling method another seed gives another map."""
    options = SEED_MATTERS_WITH.get(method.info.name, {})
    first = run(method, model, image, **options)
    np.testing.assert_array_equal(first, run(method, model, image, **options))
    if method.info.stochastic:
        np.testing.assert_array_equal(first, run(method, model, image, seed=0, **options))
        assert not np.array_equal(first, run(method, model, image, seed=1, **options))


# --------------------------------------------------------------------------- every registered method
def test_methods_keep_their_order():
    """The course's methods in the order notebooks and benchmarks iterate them; a new one goes into its family."""
    course = ["lime", "kernel_shap", "occlusion", "rise", "grad_cam", "grad_cam_pp", "score_cam", "guided_grad_cam",
              "saliency", "gradient_x_input", "smoothgrad", "guided_backprop", "integrated_gradients"]
    assert [name for name in METHODS if name in course] == course
    ranks = [FAMILIES.index(m.info.family) for m in METHODS.values()]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_info_is_complete_and_consistent(name):
    check_info(METHODS[name])
    check_wrapper(METHODS[name])


def test_the_course_methods_keep_their_default_score_and_budget():
    for name, method in METHODS.items():
        default = inspect.signature(method.__wrapped__).parameters["output"].default
        assert default == DEFAULT_OUTPUT.get(name, "logit"), name
    unbudgeted = {"occlusion", "grad_cam", "grad_cam_pp", "guided_grad_cam", "saliency", "gradient_x_input",
                  "guided_backprop"}  # the course's methods without a budget (a new method may have one or not)
    budgeted = {name for name, m in METHODS.items() if m.info.budget}
    assert BUDGETED <= budgeted and not budgeted & unbudgeted, budgeted
    assert {name: METHODS[name].info.quick["num_samples"] for name in sorted(BUDGETED)} == {
        "integrated_gradients": 32, "kernel_shap": 500, "lime": 500, "rise": 500, "score_cam": 128, "smoothgrad": 16}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_both_outputs_give_a_valid_map(model, image, name):
    """"logit" and "probability" both run and keep the map's contract; the default is one of them."""
    method = METHODS[name]
    default = inspect.signature(method.__wrapped__).parameters["output"].default
    for output in OUTPUTS:
        saliency = run(method, model, image, output=output)
        if output == default:
            np.testing.assert_array_equal(saliency, run(method, model, image))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_map_contract_and_seeds(model, image, name):
    check_seeds(METHODS[name], model, image)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_model_evaluation_is_counted(model, image, name):
    seen = model.get_layer("count").seen
    before = int(seen.numpy())
    with count_model_calls() as calls:
        run(METHODS[name], model, image)
    assert calls[0] == int(seen.numpy()) - before >= 1
    budget = METHODS[name].info.budget
    if budget is not None and not METHODS[name].info.needs_conv_layer:  # Score-CAM: capped by the channels
        assert calls[0] >= METHODS[name].info.quick[budget]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_bad_image_target_budget_and_layer_fail_in_one_line(model, image, name):
    method = METHODS[name]
    cases = [("RGB", dict(image=image[..., :2])), ("target", dict(target=CLASSES)),
             ("[0, 255]", dict(image=image - 300))]
    cases += [("output must be 'logit'", dict(options={"output": bad})) for bad in ("logits", "softmax", True, None)]
    if method.info.budget:
        cases += [(method.info.budget, dict(options={method.info.budget: bad})) for bad in (0, -1, 2.5, "8", True)]
    if method.info.needs_conv_layer:
        cases.append(("no_such_layer", dict(options={"layer": "no_such_layer"})))
    for match, case in cases:
        with count_model_calls() as calls, pytest.raises(ValueError, match=match.replace("[", r"\[")) as err:
            method(model, case.get("image", image), case.get("target", 0), **case.get("options", {}))
        assert len(str(err.value).splitlines()) == 1 and calls[0] == 0, (match, str(err.value))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_unknown_option_error_lists_the_options(model, image, name):
    method = METHODS[name]
    with count_model_calls() as calls, pytest.raises(ValueError, match="no_such_option") as err:
        method(model, image, 0, no_such_option=1)
    message = str(err.value)
    assert len(message.splitlines()) == 1 and calls[0] == 0
    assert all(option in message for option in method.info.options), message


@pytest.mark.parametrize("name", sorted(METHODS))
def test_conv_layer_need_matches_a_model_without_convolutions(image, name):
    method, net = METHODS[name], dense_model()
    if method.info.needs_conv_layer:
        with pytest.raises(ValueError, match="no convolutional layer"):
            method(net, image, 0, **method.info.quick)
    else:
        run(method, net, image)


# --------------------------------------------------------------------------- registration
def test_registering_a_taken_name_fails_in_one_line():
    before = dict(METHODS)

    def lime(model, image, target):
        return np.zeros(image.shape[:2], np.float32)

    with pytest.raises(ValueError, match="two explainers registered as 'lime'") as err:
        explainer("lime", family="perturbation", signed=True, needs_gradients=False)(lime)
    assert len(str(err.value).splitlines()) == 1 and METHODS == before


def _no_options(model, image, target):
    return np.zeros(image.shape[:2], np.float32)


def _with_seed(model, image, target, *, seed=0, num_samples=4):
    return np.zeros(image.shape[:2], np.float32)


def _star_options(model, image, target, **options):
    return np.zeros(image.shape[:2], np.float32)


def _other_arguments(net, picture, label):
    return np.zeros(picture.shape[:2], np.float32)


@pytest.mark.parametrize("fn, metadata, match", [
    (_no_options, dict(family="attention"), "family must be one of"),
    (_no_options, dict(budget="num_samples"), "budget 'num_samples' is not among its options"),
    (_with_seed, dict(stochastic=True, quick={"steps": 2}), r"quick options \['steps'\]"),
    (_no_options, dict(stochastic=True), "takes no seed"),
    (_with_seed, dict(), "pass stochastic=True"),
    (_no_options, dict(needs_conv_layer=True), "takes no layer option"),
    (_star_options, dict(), "list every option by name"),
    (_other_arguments, dict(), r"must start with \(model, image, target\)"),
])
def test_registration_refuses_metadata_that_contradicts_the_function(fn, metadata, match):
    before = dict(METHODS)
    with pytest.raises(ValueError, match=match) as err:
        explainer("contradiction", **{"family": "perturbation", "signed": True, "needs_gradients": False,
                                       **metadata})(fn)
    assert len(str(err.value).splitlines()) == 1 and METHODS == before
    with pytest.raises(ValueError, match="identifier"):
        explainer("not a name", family="cam", signed=False, needs_gradients=True)


THROWAWAY = '''"""A throwaway explainer: uniform noise, for the registry test."""
import numpy as np

from utils.explain.registry import explainer


@explainer("throwaway_noise", family="perturbation", signed=False, needs_gradients=False, stochastic=True,
           budget="num_samples", quick={"num_samples": 2})
def throwaway_noise(model, image, target, *, num_samples: int = 8, output: str = "probability",
                    seed: int | None = 0) -> np.ndarray:
    """Uniform noise in [0, 1): a map that depends on the seed only (and calls the model num_samples times)."""
    from utils.explain.base import check_count, check_image, check_output, check_target, predict

    image, target = check_image(model, image), check_target(model, target)
    predict(model, np.repeat(image[None], check_count("num_samples", num_samples), axis=0), output=check_output(output))
    return np.random.default_rng(seed).random(image.shape[:2]).astype(np.float32)
'''


def test_a_new_module_is_discovered_and_covered(tmp_path, monkeypatch, model, image):
    (tmp_path / "throwaway_noise.py").write_text(THROWAWAY)
    monkeypatch.setattr(utils.explain, "__path__", [*utils.explain.__path__, str(tmp_path)])
    try:
        assert "throwaway_noise" in import_modules(utils.explain.__name__, utils.explain.__path__)
        method = METHODS["throwaway_noise"]
        position = list(METHODS).index("throwaway_noise")  # after the numbered ones of its family
        assert position > list(METHODS).index("rise")
        assert all(m.info.family != "perturbation" for m in list(METHODS.values())[position + 1:])
        check_info(method)
        check_wrapper(method)
        check_seeds(method, model, image)
        with count_model_calls() as calls:
            run(method, model, image)
        assert calls[0] == 2
    finally:
        METHODS.pop("throwaway_noise", None)
        sys.modules.pop("utils.explain.throwaway_noise", None)
    assert "throwaway_noise" not in METHODS
