"""Image augmentations (utils.evaluation.augment): identities, directions of change, seeding, map alignment, errors."""
import numpy as np
import pytest

from utils.data import load_image, sample_image_path
from utils.evaluation import augment


@pytest.fixture(scope="module")
def photo():
    return load_image(sample_image_path("chelsea"))


@pytest.mark.parametrize("name", list(augment.AUGMENTATIONS))
def test_neutral_strength_is_the_identity_and_every_other_strength_changes_the_photo(photo, name):
    fn, strengths, neutral = augment.AUGMENTATIONS[name]
    np.testing.assert_allclose(augment.augment(photo, name, neutral), photo, atol=1e-4)
    for strength in strengths:
        out = augment.augment(photo, name, strength)
        assert out.shape == photo.shape and out.dtype == np.float32
        if strength != neutral:  # every other strength of the sweep changes the photo
            assert np.abs(out - photo).mean() > 0.5, (name, strength)


def test_each_augmentation_changes_the_image_in_the_expected_direction(photo):
    assert augment.adjust_contrast(photo, 0.5).std() < photo.std() < augment.adjust_contrast(photo, 1.5).std()
    assert augment.adjust_contrast(photo, 0.0).std() == pytest.approx(0.0, abs=1e-3)
    assert augment.adjust_brightness(photo, 0.5).mean() == pytest.approx(photo.mean() / 2, rel=1e-4)
    high_freq = lambda im: np.abs(np.diff(im, axis=1)).mean()  # noqa: E731
    assert high_freq(augment.gaussian_blur(photo, 2.0)) < 0.5 * high_freq(photo)
    assert high_freq(augment.gaussian_noise(photo, 25.0)) > high_freq(photo)
    noisy = augment.gaussian_noise(photo, 10.0, seed=1)
    assert np.abs(noisy - photo).mean() == pytest.approx(10.0 * np.sqrt(2 / np.pi), rel=0.1)  # E|N(0, s)|


def test_noise_is_seeded(photo):
    np.testing.assert_array_equal(augment.gaussian_noise(photo, 20, seed=3), augment.gaussian_noise(photo, 20, seed=3))
    assert not np.array_equal(augment.gaussian_noise(photo, 20, seed=3), augment.gaussian_noise(photo, 20, seed=4))


def test_rotation_moves_a_spot_and_align_map_brings_it_back():
    image = np.zeros((64, 64, 3), np.float32)
    image[10:18, 40:48] = 255  # a bright square top right
    turned = augment.rotate(image, 90)  # counter-clockwise: top right -> top left
    ys, xs = np.nonzero(turned[..., 0] > 128)
    assert ys.mean() < 32 and xs.mean() < 32
    saliency = turned[..., 0]
    back = augment.align_map(saliency, "rotation", 90)
    ys, xs = np.nonzero(back > 128)
    assert abs(ys.mean() - 13.5) < 1.5 and abs(xs.mean() - 43.5) < 1.5
    np.testing.assert_array_equal(augment.align_map(saliency, "blur", 3.0), saliency)


def test_bad_input_raises_clear_errors(photo):
    with pytest.raises(ValueError, match="Unknown augmentation"):
        augment.augment(photo, "sepia", 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        augment.gaussian_blur(photo, -1)
    with pytest.raises(ValueError, match="shape"):
        augment.adjust_contrast(photo[..., 0], 1.0)
