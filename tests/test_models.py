"""The model zoo: the Keras port of EfficientNet-Lite0 reproduces the PyTorch original, every model
keeps the same contract, and missing weights give a clear error instead of a download attempt."""
from pathlib import Path

import keras
import numpy as np
import pytest

from utils import models
from utils.explain.base import predict
from utils.torch_weights import load_legacy_state_dict

REFERENCE = Path(__file__).parent / "data" / "lite0_reference_logits.npz"


@pytest.fixture(scope="module")
def lite0():
    return models.load_model("efficientnet_lite0")


def test_port_matches_pytorch_reference_logits(lite0):
    ref = np.load(REFERENCE)
    logits = predict(lite0, ref["inputs"].astype(np.float32), logits=True)
    assert len(ref["inputs"]) >= 4
    assert np.abs(logits - ref["logits"]).max() <= 1e-3
    np.testing.assert_array_equal(logits.argmax(1), ref["logits"].argmax(1))


def test_port_classifies_clear_photos(lite0):
    ref = np.load(REFERENCE)
    top1 = [models.imagenet_labels()[i] for i in predict(lite0, ref["inputs"][:2].astype(np.float32)).argmax(1)]
    assert top1 == ["tiger cat", "espresso"]


def test_probabilities_are_softmax_of_logits(lite0):
    x = np.load(REFERENCE)["inputs"][:2].astype(np.float32)
    probs, logits = predict(lite0, x), predict(lite0, x, logits=True)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_legacy_weight_reader_reads_every_tensor():
    state = load_legacy_state_dict(models.lite0_weights_path())
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_conv_stem.weight"].dtype == np.float32
    assert sum(v.size for k, v in state.items() if "num_batches" not in k) > 4_600_000


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
    np.testing.assert_array_equal(fresh.get_layer("logits").get_weights()[0], lite0.get_layer("logits").get_weights()[0])


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
    assert models.logits_model(model).output.shape[-1] == 1000


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50"])
def test_missing_keras_weights_name_the_download_command(name, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(models.ModelUnavailableError, match=r"get_dataset\.sh models"):
        models.load_model(name, fresh=True)


def _save_legacy_h5(model: keras.Model, path: Path) -> None:
    """Write weights in the legacy Keras HDF5 layout that keras.applications downloads use."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def test_keras_application_loads_weights_from_the_cache(tmp_path, monkeypatch):
    """The offline path for MobileNetV2: a weights file in the Keras cache is used, no download."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    keras.utils.set_random_seed(1)
    reference = keras.applications.MobileNetV2(weights=None, classifier_activation=None)
    _save_legacy_h5(reference, models.keras_weights_path("mobilenet_v2"))
    model = models.load_model("mobilenet_v2", fresh=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    expected = reference.predict(x / 127.5 - 1.0, verbose=0)
    np.testing.assert_allclose(predict(model, x, logits=True), expected, atol=1e-4)
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
