"""The planted-cue data (utils.data.cue) and the trained cue models of the zoo (cue_resnet, cue_mobilenet)."""
import json

import numpy as np
import pytest

from utils.data import cue as cue_data
from utils.data.cue import CUE_SIZE, IMAGE_SIZE, TEST_SEED, checksum, cue_pattern, make_cue_images
from utils.explain.base import predict
from utils.models import input_size, load_model, logits_model
from utils.models.cue import CUE_MODEL_NAMES, MODELS_DIR

N = 60


@pytest.fixture(scope="module")
def sets():
    return {mode: make_cue_images(N, TEST_SEED, cue=mode) for mode in cue_data.CUE_MODES}


def test_shapes_types_and_ranges(sets):
    d = sets["present"]
    assert d.images.shape == (N, IMAGE_SIZE, IMAGE_SIZE, 3) and d.images.dtype == np.float32
    assert d.masks.shape == (N, IMAGE_SIZE, IMAGE_SIZE) and d.masks.dtype == bool
    assert d.images.min() >= 0 and d.images.max() <= 255 and d.images.max() > 1
    assert np.array_equal(np.bincount(d.labels), [N // 3] * 3)  # balanced
    assert np.all(d.masks.sum((1, 2)) == CUE_SIZE ** 2)


def test_mask_marks_exactly_the_cue(sets):
    d, removed, swapped = sets["present"], sets["removed"], sets["swapped"]
    for i in range(N):
        y, x = d.positions[i]
        changed = np.any(d.images[i] != removed.images[i], axis=-1)
        assert not changed[~d.masks[i]].any()  # the cue changes nothing outside its mask
        assert changed[d.masks[i]].mean() > 0.3  # and most of the pixels inside it
        patch = d.images[i][d.masks[i]].reshape(CUE_SIZE, CUE_SIZE, 3)
        assert np.array_equal(patch, cue_pattern(d.labels[i]))
        other = swapped.images[i][y:y + CUE_SIZE, x:x + CUE_SIZE]
        assert np.array_equal(other, cue_pattern(swapped.cue_labels[i]))
    assert np.array_equal(swapped.cue_labels, (d.labels + 1) % 3)
    assert np.all(removed.cue_labels == -1)
    # The three modes share backgrounds, labels, positions and masks.
    for mode in ("removed", "swapped"):
        assert np.array_equal(sets[mode].masks, d.masks) and np.array_equal(sets[mode].labels, d.labels)


def test_removing_the_cue_leaves_no_trace_of_it(sets):
    """No 8x8 window of a cue-free image equals any class's cue pattern (the background cannot fake it)."""
    from numpy.lib.stride_tricks import sliding_window_view
    removed = sets["removed"].images[:20]
    windows = sliding_window_view(removed, (CUE_SIZE, CUE_SIZE), axis=(1, 2))  # (n, h, w, 3, 8, 8)
    for c in range(3):
        pattern = cue_pattern(c).transpose(2, 0, 1).astype(np.float32)
        assert not np.any(np.all(windows == pattern, axis=(3, 4, 5)))


def test_seed_determinism():
    a, b = make_cue_images(9, 3), make_cue_images(9, 3)
    assert checksum(a) == checksum(b)
    # image i depends on (seed, i) only
    assert checksum(make_cue_images(5, 3)) == checksum(_prefix(make_cue_images(9, 3), 5))
    assert checksum(make_cue_images(9, 4)) != checksum(a)


def _prefix(d, n):
    return cue_data.CueImages(d.images[:n], d.masks[:n], d.labels[:n], d.cue_labels[:n], d.positions[:n])


def test_regenerated_test_set_matches_recorded_checksum():
    record = json.loads((MODELS_DIR / "cue_models.json").read_text())
    assert record["test_seed"] == TEST_SEED
    assert checksum(make_cue_images(record["n_test"], TEST_SEED)) == record["test_checksum"]


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="cue must be one of"):
        make_cue_images(3, cue="hidden")
    with pytest.raises(ValueError, match="swap_shift"):
        make_cue_images(3, cue="swapped", swap_shift=3)
    with pytest.raises(ValueError, match="non-negative int"):
        make_cue_images(-1)
    with pytest.raises(ValueError, match="class index"):
        cue_pattern(7)


@pytest.mark.parametrize("name", CUE_MODEL_NAMES)
def test_cue_model_relies_on_the_cue(name, sets):
    model = load_model(name)
    assert input_size(model) == IMAGE_SIZE
    assert model.layers[-1].name == "predictions" and logits_model(model).output.shape[-1] == 3
    accuracy = {mode: float((predict(model, d.images).argmax(1) == d.labels).mean()) for mode, d in sets.items()}
    follows = float((predict(model, sets["swapped"].images).argmax(1) == sets["swapped"].cue_labels).mean())
    print(name, accuracy, "swapped follows cue", follows)
    assert accuracy["present"] >= 0.95
    assert accuracy["removed"] <= 0.6  # chance is 1/3
    assert follows >= 0.9


@pytest.mark.parametrize("name", CUE_MODEL_NAMES)
def test_cue_model_random_weights_keep_the_architecture(name):
    trained, fresh = load_model(name), load_model(name, pretrained=False)
    assert [lyr.name for lyr in fresh.layers] == [lyr.name for lyr in trained.layers]
    assert input_size(fresh) == IMAGE_SIZE
    assert not np.allclose(fresh.get_layer("logits").get_weights()[0], trained.get_layer("logits").get_weights()[0])
    copy = load_model(name, fresh=True)
    assert copy is not trained and np.allclose(copy.get_layer("logits").get_weights()[0],
                                               trained.get_layer("logits").get_weights()[0])
