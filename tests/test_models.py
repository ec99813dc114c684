"""The model zoo: the Keras port of EfficientNet-Lite0 reproduces the PyTorch original, every model
keeps the same contract, and missing weights give a clear error instead of a download attempt."""
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers_models import plain_cnn, save_legacy_h5_weights

from utils.explain import METHODS
from utils.explain.base import predict
from utils.models import zoo as models
from utils.models.torch_weights import load_legacy_state_dict

REFERENCE = Path(__file__).parent / "data" / "lite0_reference_logits.npz"


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def lite0():
    return models.load_model("efficientnet_lite0")


def test_port_matches_pytorch_reference_logits(lite0):
    ref = np.load(REFERENCE)
    logits = predict(lite0, ref["inputs"].astype(np.float32), output="logit")
    assert len(ref["inputs"]) >= 4
    assert np.abs(logits - ref["logits"]).max() <= 1e-3
    np.testing.assert_array_equal(logits.argmax(1), ref["logits"].argmax(1))


def test_port_classifies_clear_photos(lite0):
    ref = np.load(REFERENCE)
    top1 = [models.imagenet_labels()[i] for i in predict(lite0, ref["inputs"][:2].astype(np.float32)).argmax(1)]
    assert top1 == ["tiger cat", "espresso"]


def test_probabilities_are_softmax_of_logits(lite0):
    x = np.load(REFERENCE)["inputs"][:2].astype(np.float32)
    probs, logits = predict(lite0, x), predict(lite0, x, output="logit")
    np.testing.assert_allclose(probs, _softmax(logits), atol=1e-5)


def test_legacy_weight_reader_reads_every_tensor():
    state = load_legacy_state_dict(models.lite0_weights_path())
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_conv_stem.weight"].dtype == np.float32
    assert len(state) == 296 and sum("num_batches" in k for k in state) == 49  # 49 BatchNorm layers
    # every other tensor fills one Keras weight: 4,694,024 numbers, the architecture's parameter count
    total = sum(v.size for k, v in state.items() if "num_batches" not in k)
    assert total == models.build_efficientnet_lite0().count_params() == 4_694_024


def test_legacy_weight_reader_rejects_other_files(tmp_path):
    bogus = tmp_path / "weights.pth"
    import pickle

    bogus.write_bytes(pickle.dumps(123))
    with pytest.raises(ValueError, match="not a valid PyTorch legacy-format"):
        load_legacy_state_dict(bogus)


def test_load_model_is_cached_and_fresh_copies_are_independent(lite0):
    assert models.load_model("efficientnet_lite0") is lite0
    fresh = models.load_model("efficientnet_lite0", fresh=True)
    assert fresh is not lite0
    np.testing.assert_array_equal(fresh.get_layer("logits").get_weights()[0],
                                  lite0.get_layer("logits").get_weights()[0])


def test_unknown_model_name_lists_choices():
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        models.load_model("vgg16")


@pytest.mark.parametrize("name", [["resnet50"], None, 3, b"resnet50"])
def test_a_model_name_that_is_not_a_string_lists_the_choices(name):
    with pytest.raises(ValueError, match="one model name as a string.*efficientnet_lite0, mobilenet_v2"):
        models.load_model(name)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "mobilenet_v2", "resnet50"])
def test_every_zoo_model_keeps_the_contract(name):
    model = models.load_model(name, pretrained=False)
    assert models.input_size(model) == 224
    assert model.layers[-1].name == "predictions" and model.layers[-2].name == "logits"
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    probs = predict(model, x)
    assert probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
    net = models.logits_model(model)
    assert net.output is model.get_layer("logits").output and net.inputs[0] is model.inputs[0]
    np.testing.assert_allclose(_softmax(predict(model, x, output="logit")), probs, atol=1e-5)


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50"])
def test_missing_keras_weights_name_the_download_command(name, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(models.ModelUnavailableError, match=r"get_dataset\.sh models"):
        models.load_model(name, fresh=True)


def test_keras_application_loads_weights_from_the_cache(tmp_path, monkeypatch):
    """The offline path for MobileNetV2: a weights file in the Keras cache is used, no download."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    keras.utils.set_random_seed(1)
    reference = keras.applications.MobileNetV2(weights=None, classifier_activation=None)
    save_legacy_h5_weights(reference, models.keras_weights_path("mobilenet_v2"))
    model = models.load_model("mobilenet_v2", fresh=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    expected = reference.predict(x / 127.5 - 1.0, verbose=0)
    np.testing.assert_allclose(predict(model, x, output="logit"), expected, atol=1e-4)
    assert models.available_models()["mobilenet_v2"] is True


def test_corrupt_keras_weights_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    path = models.keras_weights_path("resnet50")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an hdf5 file")
    with pytest.raises(models.ModelUnavailableError, match="Delete the file"):
        models.load_model("resnet50", fresh=True)


def test_labels_and_decode_predictions_work_offline():
    labels = models.imagenet_labels()
    assert len(labels) == 1000 and labels[282] == "tiger cat" and labels[967] == "espresso"
    probs = np.zeros(1000, np.float32)
    probs[[967, 282, 1]] = [0.7, 0.2, 0.1]
    top = models.decode_predictions(probs, top=2)[0]
    assert [(i, n) for i, n, _ in top] == [(967, "espresso"), (282, "tiger cat")]
    assert top[0][2] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="1000 classes"):
        models.decode_predictions(np.ones((1, 10)))


# --------------------------------------------------------------------------- any Keras image classifier
IMAGES = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)


def _run(model: keras.Model, x: np.ndarray = IMAGES) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def _pre_softmax(model: keras.Model, x: np.ndarray = IMAGES) -> np.ndarray:
    """The logits of a :func:`plain_cnn`, by hand: pooled features @ kernel + bias of its Dense head."""
    features = _run(keras.Model(model.inputs[0], model.get_layer("pool").output), x)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    kernel, bias = dense.get_weights()
    return features @ kernel + bias


@pytest.mark.parametrize("sequential", [False, True], ids=["functional", "sequential"])
@pytest.mark.parametrize("head", ["dense_softmax", "activation_softmax", "softmax_layer"])
def test_logits_of_a_softmax_classifier_are_its_pre_softmax_values(head, sequential):
    model = plain_cnn(head, sequential=sequential)
    logits = _run(models.logits_model(model))
    assert logits.shape == (3, 10)
    np.testing.assert_allclose(logits, _pre_softmax(model), atol=1e-5)
    np.testing.assert_allclose(_softmax(logits), _run(model), atol=1e-5)
    assert not models.outputs_logits(model) and models.probability_model(model) is model


def test_every_head_of_the_same_weights_gives_the_same_logits():
    reference = _run(models.logits_model(plain_cnn("dense_softmax")))
    for head in ("activation_softmax", "softmax_layer", "logits"):
        np.testing.assert_allclose(_run(models.logits_model(plain_cnn(head))), reference, atol=1e-6, err_msg=head)


def test_linearising_a_dense_softmax_does_not_change_the_model():
    model = plain_cnn("dense_softmax")
    outputs, config, weights = _run(model), model.get_config(), model.get_weights()
    layers = list(model.layers)
    _run(models.logits_model(model))
    last = model.layers[-1]
    assert last.activation is keras.activations.softmax and last.get_config()["activation"] == "softmax"
    assert list(model.layers) == layers and model.get_config() == config
    np.testing.assert_array_equal(_run(model), outputs)
    for now, before in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(now, before)


def test_the_logits_model_shares_the_weights_and_is_built_once():
    """Weights changed after the first explanation (training, the sanity check's randomisation) reach the logits."""
    model = plain_cnn("dense_softmax")
    net = models.logits_model(model)
    assert models.logits_model(model) is net
    assert {id(w) for w in net.weights} == {id(w) for w in model.weights}
    kernel, bias = model.get_layer("predictions").get_weights()
    model.get_layer("predictions").set_weights([np.zeros_like(kernel), np.arange(10, dtype=np.float32)])
    np.testing.assert_allclose(_run(net), np.tile(np.arange(10, dtype=np.float32), (3, 1)), atol=1e-6)
    np.testing.assert_allclose(_run(model), _softmax(np.tile(np.arange(10.0), (3, 1))), atol=1e-6)


def test_a_model_that_outputs_logits_is_used_as_it_is():
    model = plain_cnn("logits")
    assert models.logits_model(model) is model and models.outputs_logits(model)
    probabilities = models.probability_model(model)
    assert models.probability_model(model) is probabilities
    np.testing.assert_allclose(_run(probabilities), _softmax(_run(model)), atol=1e-6)


def test_a_keras_application_with_its_softmax_classifier_is_linearised():
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=5,
                                           classifier_activation="softmax")
    x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    logits = _run(models.logits_model(model), x)
    kernel, bias = model.layers[-1].get_weights()
    features = _run(keras.Model(model.inputs[0], model.layers[-1].input), x)
    np.testing.assert_allclose(logits, features @ kernel + bias, atol=1e-5)
    np.testing.assert_allclose(_softmax(logits), _run(model, x), atol=1e-5)


def _two_outputs() -> keras.Model:
    model = plain_cnn("dense_softmax")
    return keras.Model(model.inputs, [model.output, model.get_layer("pool").output], name="two_outputs")


def _ends_in_pooling() -> keras.Model:
    model = plain_cnn("dense_softmax")
    return keras.Model(model.inputs, model.get_layer("pool").output, name="features")


def _einsum_softmax() -> keras.Model:
    model = _ends_in_pooling()
    head = keras.layers.EinsumDense("ab,bc->ac", 10, activation="softmax")
    return keras.Model(model.inputs, head(model.output), name="einsum")


@pytest.mark.parametrize("build, reason", [
    (lambda: plain_cnn("sigmoid"), "ends in a Dense layer 'predictions' with activation 'sigmoid'"),
    (_two_outputs, "has 2 outputs"),
    (_ends_in_pooling, "ends in a GlobalAveragePooling2D layer 'pool' with no activation"),
    (_einsum_softmax, "only a plain \\(unquantised\\) Dense layer can be linearised"),
], ids=["sigmoid", "two_outputs", "no_activation", "einsum_softmax"])
def test_an_unsupported_classifier_is_a_one_line_error_that_says_what_is_supported(build, reason):
    model = build()
    with pytest.raises(ValueError, match=reason) as info:
        models.logits_model(model)
    message = str(info.value)
    assert "\n" not in message and message.endswith(models.LOGITS_SUPPORTED)
    assert "_course_logits_model" not in model.__dict__


@pytest.fixture(scope="module")
def student_cnns() -> tuple[keras.Model, keras.Model]:
    """The same weights twice: ending in Dense(softmax) (a student's model), and in Dense + Activation("softmax")."""
    dense, separate = plain_cnn("dense_softmax"), plain_cnn("activation_softmax")
    for a, b in zip(dense.get_weights(), separate.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    return dense, separate


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_explainer_explains_a_plain_keras_cnn_ending_in_dense_softmax(name, student_cnns):
    """Each method gives a finite (H, W) map on the student's model, equal to its map on the zoo layout."""
    dense, separate = student_cnns
    image = IMAGES[0]
    target = int(_run(dense, image[None]).argmax())
    saliency = np.asarray(METHODS[name](dense, image, target))
    assert saliency.shape == (64, 64) and np.all(np.isfinite(saliency))
    assert np.abs(saliency).max() > 0, "an all-zero map explains nothing"
    np.testing.assert_allclose(saliency, METHODS[name](separate, image, target),
                               rtol=1e-4, atol=1e-5 * float(np.abs(saliency).max()))
