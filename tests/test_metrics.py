"""utils.evaluation.metrics against known answers: maps equal to the mask, random maps, exact attributions of a
linear model, a deterministic map under zero noise, and the randomisation check on a tiny CNN."""
import keras
import numpy as np
import pytest

from utils.evaluation import metrics
from utils.explain.base import logit_gradients, predict

SIZE = 16


def _linear_model(seed: int = 0) -> tuple[keras.Model, np.ndarray]:
    """logits = [w . x, 0] on 16x16 RGB images: a model whose exact attribution is w * x."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (SIZE, SIZE, 3)).astype(np.float32) * 2e-3
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(2, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(x))
    model.get_layer("logits").set_weights([np.stack([w.ravel(), np.zeros(w.size, np.float32)], 1),
                                           np.zeros(2, np.float32)])
    return model, w


def _tiny_cnn(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(x))


def _saliency(model, image, target):
    """|d logit / d x| summed over channels: a deterministic gradient map."""
    _, grads = logit_gradients(model, image[None], target)
    return np.abs(grads[0]).sum(-1)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(1).uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def linear():
    return _linear_model()


@pytest.fixture(scope="module")
def cnn():
    return _tiny_cnn()


# --------------------------------------------------------------------------- localisation
def test_map_equal_to_mask_scores_one():
    mask = np.zeros((SIZE, SIZE), bool)
    mask[3:7, 9:13] = True
    assert metrics.pointing_game(mask.astype(float), mask) == 1.0
    assert metrics.relevance_mass(mask.astype(float), mask) == 1.0
    # A map peaking outside the mask misses; one pixel away is a hit with a tolerance of 1 pixel.
    off = np.zeros((SIZE, SIZE))
    off[7, 10] = 1.0
    assert metrics.pointing_game(off, mask) == 0.0
    assert metrics.pointing_game(off, mask, tolerance=1) == 1.0
    assert metrics.relevance_mass(off, mask) == 0.0
    # A constant map earns the mask's share of the image, not a free hit.
    share = mask.mean()
    assert metrics.pointing_game(np.ones((SIZE, SIZE)), mask) == pytest.approx(share)
    assert metrics.relevance_mass(np.ones((SIZE, SIZE)), mask) == pytest.approx(share)
    # Only positive evidence counts.
    assert metrics.relevance_mass(-mask.astype(float), mask) == 0.0


def test_localisation_rejects_bad_input():
    mask = np.zeros((SIZE, SIZE), bool)
    with pytest.raises(ValueError, match="empty"):
        metrics.pointing_game(np.ones((SIZE, SIZE)), mask)
    mask[0, 0] = True
    with pytest.raises(ValueError, match="shape"):
        metrics.relevance_mass(np.ones((8, 8)), mask)
    with pytest.raises(ValueError, match="one value per pixel"):
        metrics.deletion_insertion(_tiny_cnn(), np.ones((SIZE, SIZE, 3)) * 9, np.ones((SIZE, SIZE, 3)), 0)


# --------------------------------------------------------------------------- deletion / insertion
def test_random_map_deletion_and_insertion_coincide_on_average(cnn, image):
    """With the blurred image as deletion end and insertion start, a random order deletes a random set
    of t pixels, and insertion at 1 - t keeps the same number of originals: same distribution."""
    steps, runs = 16, 48
    dels, inss = [], []
    for seed in range(runs):
        random_map = np.random.default_rng(100 + seed).random((SIZE, SIZE))
        r = metrics.deletion_insertion(cnn, image, random_map, 0, steps=steps, deletion_baseline="blur",
                                       insertion_baseline="blur", output="logit", seed=seed)
        dels.append(r["deletion_curve"])
        inss.append(r["insertion_curve"])
    mean_del, mean_ins_reversed = np.mean(dels, 0), np.mean(inss, 0)[::-1]
    spread = abs(mean_del[0] - mean_del[-1])
    gap = np.abs(mean_del - mean_ins_reversed).max()
    print(f"random map: max |deletion(t) - insertion(1-t)| = {gap:.4f}, curve range {spread:.4f}")
    assert spread > 0.05  # the curves do move
    np.testing.assert_allclose(mean_del[[0, -1]], mean_ins_reversed[[0, -1]], rtol=1e-4, atol=1e-4)
    assert gap < 0.1 * spread
    # Control: an informative map (here the edge of the image first) breaks the symmetry.
    rows = np.arange(SIZE)[:, None] * np.ones(SIZE)
    r = metrics.deletion_insertion(cnn, image, rows, 0, steps=steps, deletion_baseline="blur",
                                   insertion_baseline="blur", output="logit")
    assert np.abs(r["deletion_curve"] - r["insertion_curve"][::-1]).max() > gap


def test_deletion_scores_the_output_it_is_asked_for(linear, image):
    """The first point of each curve is the score of the untouched image: probability or logit."""
    model, w = linear
    exact = (w * image).sum(-1)
    for output in ("probability", "logit"):
        r = metrics.deletion_insertion(model, image, exact, 0, steps=4, output=output)
        assert r["deletion_curve"][0] == pytest.approx(float(predict(model, image[None], output=output)[0, 0]),
                                                       rel=1e-5)
        assert r["insertion_curve"][-1] == pytest.approx(r["deletion_curve"][0], rel=1e-5)
    # The linear logit of a black image is the bias, 0: the deletion curve ends there.
    assert metrics.deletion_insertion(model, image, exact, 0, steps=4, output="logit")["deletion_curve"][-1] == \
        pytest.approx(0.0, abs=1e-5)


def test_removed_pixels_show_the_baselines_of_the_baselines_module(linear, image):
    """MuFidelity's drops with a grey baseline: the linear logit falls by w . (x - 127) on each subset, so the
    exact attribution w * (x - 127) correlates perfectly, and a "blur" baseline is the one sigma-5 blur."""
    from utils.explain.baselines import blurred

    model, w = linear
    grey = (w * (image - 127.0)).sum(-1)
    assert metrics.faithfulness_correlation(model, image, grey, 0, grid=4, baseline=127.0) == \
        pytest.approx(1.0, abs=1e-4)
    soft = (w * (image - blurred(image))).sum(-1)
    assert metrics.faithfulness_correlation(model, image, soft, 0, grid=4, baseline="blur") == \
        pytest.approx(1.0, abs=1e-4)


def test_exact_attribution_of_linear_model_scores_best_on_deletion(linear, image):
    model, w = linear
    exact = (w * image).sum(-1)
    kwargs = dict(steps=32, deletion_baseline="black")
    best = metrics.deletion_insertion(model, image, exact, 0, **kwargs)
    negated = metrics.deletion_insertion(model, image, -exact, 0, **kwargs)
    randoms = [metrics.deletion_insertion(model, image, np.random.default_rng(s).random((SIZE, SIZE)), 0, **kwargs)
               for s in range(5)]
    print("deletion AUC: exact", best["deletion_auc"], "random", [round(r["deletion_auc"], 3) for r in randoms],
          "negated", negated["deletion_auc"])
    assert best["deletion_curve"].shape == (33,) and best["fractions"][-1] == 1.0
    assert best["deletion_auc"] < min(r["deletion_auc"] for r in randoms)
    assert max(r["deletion_auc"] for r in randoms) < negated["deletion_auc"]
    # Greedy deletion by exact contribution is optimal for a linear logit: below any other order at every step.
    for r in randoms + [negated]:
        assert np.all(best["deletion_curve"] <= r["deletion_curve"] + 1e-6)


# --------------------------------------------------------------------------- faithfulness
def test_faithfulness_correlation_is_one_for_exact_linear_attribution(linear, image):
    model, w = linear
    exact = (w * image).sum(-1)
    assert metrics.faithfulness_correlation(model, image, exact, 0, grid=4, seed=0) == pytest.approx(1.0, abs=1e-4)
    noise = np.random.default_rng(3).normal(size=(SIZE, SIZE))
    assert abs(metrics.faithfulness_correlation(model, image, noise, 0, grid=4, seed=0)) < 0.5
    assert metrics.faithfulness_correlation(model, image, np.ones((SIZE, SIZE)), 0, grid=4) == 0.0


def test_prediction_gaps_favour_the_exact_attribution(linear, image):
    model, w = linear
    exact = np.abs((w * image).sum(-1))
    gaps = metrics.prediction_gaps(model, image, exact, 0, fraction=0.2, noise_std=40.0)
    assert gaps["pgi"] > gaps["pgu"] > 0


def test_prediction_gaps_rank_pixels_by_magnitude_so_the_sign_of_the_map_does_not_matter(linear, image):
    model, w = linear
    signed = (w * image).sum(-1)
    assert (signed < 0).any() and (signed > 0).any()
    flipped = metrics.prediction_gaps(model, image, -signed, 0, fraction=0.2, noise_std=40.0)
    assert metrics.prediction_gaps(model, image, signed, 0, fraction=0.2, noise_std=40.0) == flipped
    assert flipped == metrics.prediction_gaps(model, image, np.abs(signed), 0, fraction=0.2, noise_std=40.0)


def test_ig_completeness_on_linear_model(linear, image):
    model, w = linear
    exact = w * image  # IG with a black baseline is exact for a linear logit
    result = metrics.ig_completeness(model, image, exact, 0)
    assert result["relative_gap"] < 1e-4
    assert result["logit_difference"] == pytest.approx(float((w * image).sum()), rel=1e-4)
    assert metrics.ig_completeness(model, image, exact.sum(-1) / 2, 0)["relative_gap"] == pytest.approx(0.5, abs=1e-4)


# --------------------------------------------------------------------------- stability
def test_deterministic_map_is_perfectly_stable_under_zero_noise(cnn, image):
    result = metrics.noise_stability(_saliency, cnn, image, 0, noise_std=0.0, num_samples=2)
    assert result["spearman"] == pytest.approx(1.0)
    assert result["relative_change"] == 0.0
    assert result["ssim"] == pytest.approx(1.0)
    noisy = metrics.noise_stability(_saliency, cnn, image, 0, noise_std=30.0, num_samples=2)
    assert noisy["relative_change"] > 0 and noisy["spearman"] < 1.0


def test_a_metric_passes_the_method_its_own_options(cnn, image):
    """The metric's num_samples counts its copies; the method's num_samples travels in options."""
    seen = []

    def budgeted(model, image, target, *, num_samples=1, seed=0):
        seen.append((num_samples, seed))
        return _saliency(model, image, target)

    result = metrics.noise_stability(budgeted, cnn, image, 0, num_samples=3, seed=4, options={"num_samples": 7})
    assert len(result["maps"]) == 3 and seen == [(7, 4)] * 4  # the clean map and three copies
    seen.clear()
    metrics.seed_spread(budgeted, cnn, image, 0, seeds=(1, 2), options={"num_samples": 5})
    assert seen == [(5, 1), (5, 2)]
    seen.clear()
    result = metrics.model_randomisation_check(budgeted, cnn, image, 0, stages=2, seed=3, options={"num_samples": 9})
    assert len(result["maps"]) == 3 and seen == [(9, 3)] * 3


def test_seed_spread():
    model = _tiny_cnn()
    img = np.full((SIZE, SIZE, 3), 100.0, np.float32)

    def ignores_seed(model, image, target, seed=0):
        return np.arange(SIZE * SIZE, dtype=float).reshape(SIZE, SIZE)

    def pure_noise(model, image, target, seed=0):
        return np.random.default_rng(seed).random((SIZE, SIZE))

    same = metrics.seed_spread(ignores_seed, model, img, 0, seeds=(0, 1, 2))
    assert same["spearman"] == pytest.approx(1.0) and same["relative_std"] == 0.0
    noisy = metrics.seed_spread(pure_noise, model, img, 0, seeds=(0, 1, 2))
    assert abs(noisy["spearman"]) < 0.3 and noisy["relative_std"] > 0.3
    with pytest.raises(ValueError, match="no seed"):
        metrics.seed_spread(_saliency, model, img, 0)


# --------------------------------------------------------------------------- sanity check
def test_model_randomisation_check_on_tiny_cnn(cnn, image):
    result = metrics.model_randomisation_check(_saliency, cnn, image, 0, stages=3)
    print("spearman per step", np.round(result["spearman"], 3), "ssim", np.round(result["ssim"], 3))
    assert result["steps"][1] == ["logits"] and len(result["maps"]) == 4
    assert result["spearman"][0] == pytest.approx(1.0) and result["ssim"][0] == pytest.approx(1.0)
    assert result["spearman"][-1] < 0.8 and result["ssim"][-1] < 0.8
    # The original model is untouched (the check works on a copy).
    np.testing.assert_allclose(_saliency(cnn, image, 0), result["maps"][0], rtol=1e-5)


def test_repeated_randomisation_checks_reuse_the_copy_but_start_from_the_current_weights(cnn, image):
    """A second check (reusing the first's copy and twin) gives the same maps, and one run after the model's
    weights changed sees the new weights, not the first check's randomised or stale ones."""
    first = metrics.model_randomisation_check(_saliency, cnn, image, 0, stages=3)
    again = metrics.model_randomisation_check(_saliency, cnn, image, 0, stages=3)
    np.testing.assert_array_equal(first["maps"], again["maps"])
    original = cnn.get_weights()
    try:
        cnn.set_weights([w * 0.5 for w in original])
        halved = metrics.model_randomisation_check(_saliency, cnn, image, 0, stages=3)
        np.testing.assert_allclose(halved["maps"][0], _saliency(cnn, image, 0), rtol=1e-5)
        assert not np.allclose(halved["maps"][0], first["maps"][0])
        np.testing.assert_allclose(halved["maps"][-1], first["maps"][-1], rtol=1e-5)  # the same twin
    finally:
        cnn.set_weights(original)


def test_map_similarity_of_identical_maps():
    a = np.random.default_rng(0).random((SIZE, SIZE))
    sim = metrics.map_similarity(a, a)
    assert sim["spearman"] == pytest.approx(1.0) and sim["ssim"] == pytest.approx(1.0)
    assert sim["relative_change"] == 0.0
    assert metrics.map_similarity(a, -a)["spearman"] == pytest.approx(-1.0)


def test_ig_completeness_matches_integrated_gradients_module(cnn, image):
    from utils.explain.base import predict
    from utils.explain.integrated_gradients import integrated_gradients_result

    ig = integrated_gradients_result(cnn, image, 1, num_samples=512)
    attributions = ig.attributions
    result = metrics.ig_completeness(cnn, image, attributions, 1)
    assert result["relative_gap"] == pytest.approx(ig.gap, rel=1e-4, abs=1e-6)
    # An independent check of the same definition, through the model's logits.
    f = predict(cnn, np.stack([image, np.zeros_like(image)]), output="logit")[:, 1]
    assert result["logit_difference"] == pytest.approx(float(f[0] - f[1]), rel=1e-5, abs=1e-6)
    expected = abs(float(np.sum(attributions, dtype=np.float64)) - float(f[0] - f[1])) / abs(float(f[0] - f[1]))
    assert result["relative_gap"] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert result["relative_gap"] < 0.05  # 512 intervals suffice on this tiny CNN


# --------------------------------------------------------------------------- the random twin
def test_variance_scaling_init_draws_he_fan_out_kernels_and_identity_batchnorm():
    from utils.models import build_efficientnet_lite0

    model = metrics.variance_scaling_init(build_efficientnet_lite0(), seed=0)
    conv = model.get_layer("top_conv").get_weights()[0]          # (1, 1, 320, 1280): fan_out 1280
    assert np.std(conv) == pytest.approx(np.sqrt(2.0 / 1280), rel=0.03)
    depthwise = model.get_layer("block15_dw_conv").get_weights()[0]  # (3, 3, 1152, 1): fan_out 9
    assert np.std(depthwise) == pytest.approx(np.sqrt(2.0 / 9), rel=0.03)
    assert np.abs(depthwise).max() <= 2 * np.sqrt(2.0 / 9) / 0.8796 + 1e-6  # truncated at two sd
    kernel, bias = model.get_layer("logits").get_weights()       # uniform, VarianceScaling(1/3, fan_out 1000)
    assert np.abs(kernel).max() <= np.sqrt(1.0 / 1000) and np.std(kernel) == pytest.approx(np.sqrt(1 / 3000), rel=0.03)
    assert not bias.any()
    gamma, beta, mean, var = model.get_layer("top_bn").get_weights()
    assert (gamma == 1).all() and (beta == 0).all() and (mean == 0).all() and (var == 1).all()
    again = metrics.variance_scaling_init(build_efficientnet_lite0(), seed=0)
    np.testing.assert_array_equal(again.get_layer("top_conv").get_weights()[0], conv)  # seeded


@pytest.fixture(scope="module")
def photos():
    from utils.data import load_image, sample_images

    return np.stack([load_image(sample_images()[n]) for n in ("coffee", "chelsea", "zebra", "fire_engine")])


def test_the_fully_randomised_lite0_has_usable_logits(photos):
    spread = metrics.random_logit_spread("efficientnet_lite0", photos, seed=0)
    print(spread)
    # Keras' default Glorot kernels gave a logit sd of ~1e-12 here; the variance-scaling twin keeps ~1.
    assert spread["usable"] and spread["sd"] > metrics.RANDOM_LOGIT_MIN_SD
    assert 0.3 < spread["sd"] / spread["trained_sd"] < 3
    assert spread["sd_over_images"] > 0.01  # the output still depends on the input


def test_sanity_verdict_threshold_and_result(cnn, image):
    bound = metrics.SANITY_MAX_RANK_CORRELATION
    assert metrics.sanity_verdict(bound - 0.01) == "passes" and metrics.sanity_verdict(bound + 0.01) == "fails"
    assert metrics.sanity_verdict(-(bound + 0.01)) == "fails"
    assert metrics.sanity_verdict(0.0, constant=True) == "undefined (constant map)"
    result = metrics.model_randomisation_check(_saliency, cnn, image, 0, stages=2)
    assert not result["final_map_constant"]
    assert result["verdict"] == metrics.sanity_verdict(result["spearman_abs"][-1])

    trained_kernel = cnn.get_layer("logits").get_weights()[0]

    def blank_after_randomising(model, image, target):  # a map that goes constant once the logits layer changes
        same = np.array_equal(model.get_layer("logits").get_weights()[0], trained_kernel)
        return _saliency(model, image, target) * float(same)

    result = metrics.model_randomisation_check(blank_after_randomising, cnn, image, 0, stages=2)
    assert result["final_map_constant"] and result["verdict"] == "undefined (constant map)"


# --------------------------------------------------------------------------- agreement between explainers (OpenXAI)
def test_agreement_of_identical_maps_is_one_and_of_disjoint_top_k_zero():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(6, 8))
    for fn in (metrics.feature_agreement, metrics.rank_agreement, metrics.sign_agreement,
               metrics.signed_rank_agreement):
        assert fn(a, a, 10) == 1.0 and fn(a, 3.0 * a, 48) == 1.0  # blind to the scale
    # b's largest magnitudes sit where a's are smallest: the top-10 sets share nothing.
    order = np.argsort(-np.abs(a).ravel(), kind="stable")
    b = np.zeros(a.size)
    b[order] = np.arange(1, a.size + 1)
    b = b.reshape(a.shape)
    assert metrics.feature_agreement(a, b, 10) == 0.0 and metrics.rank_agreement(a, b, 10) == 0.0
    assert metrics.feature_agreement(a, b, a.size) == 1.0  # every pixel is in both top-n sets


def test_agreement_ranks_by_magnitude_and_rank_agreement_needs_the_same_order():
    a = np.array([[5.0, -4.0, 3.0, 0.1], [0.2, 0.3, 0.0, -0.05]])
    b = np.array([[-4.0, 5.0, 3.0, 0.0], [0.1, 0.0, 0.2, 0.3]])  # a's top 2 swapped, signs swapped too
    assert list(metrics.top_k_pixels(a, 3)) == [0, 1, 2]  # -4 outranks 3: magnitude, not value
    assert metrics.feature_agreement(a, b, 2) == 1.0 and metrics.rank_agreement(a, b, 2) == 0.0
    assert metrics.feature_agreement(a, b, 3) == 1.0 and metrics.rank_agreement(a, b, 3) == pytest.approx(1 / 3)
    # pixel 0 is + in a and - in b, pixel 1 - in a and + in b, pixel 2 + in both
    assert metrics.sign_agreement(a, b, 3) == pytest.approx(1 / 3)
    assert metrics.signed_rank_agreement(a, b, 3) == pytest.approx(1 / 3)
    assert metrics.sign_agreement(np.abs(a), np.abs(b), 3) == metrics.feature_agreement(a, b, 3)


def test_agreement_of_a_permuted_map_and_of_random_maps():
    rng = np.random.default_rng(6)
    a = rng.permutation(400).reshape(20, 20).astype(float) + 1
    top = metrics.top_k_pixels(a, 50)
    shuffled = a.ravel().copy()
    shuffled[top] = shuffled[np.roll(top, 1)]  # the top-50 values move one rank along, among the same pixels
    shuffled = shuffled.reshape(a.shape)
    assert metrics.feature_agreement(a, shuffled, 50) == 1.0 and metrics.rank_agreement(a, shuffled, 50) == 0.0
    rest = a.ravel().copy()
    low = np.argsort(np.abs(rest), kind="stable")[:300]
    rest[low] = rng.permutation(rest[low])  # a permutation below the top 50 changes neither score
    rest = rest.reshape(a.shape)
    assert metrics.feature_agreement(a, rest, 50) == metrics.rank_agreement(a, rest, 50) == 1.0
    # two independent random maps share about k / n of their top k
    shares = [metrics.feature_agreement(rng.normal(size=(20, 20)), rng.normal(size=(20, 20)), 100) for _ in range(40)]
    assert np.mean(shares) == pytest.approx(100 / 400, abs=0.03)


def test_agreement_rejects_bad_input():
    a = np.ones((4, 4))
    with pytest.raises(ValueError, match="k must be"):
        metrics.feature_agreement(a, a, 0)
    with pytest.raises(ValueError, match="k must be"):
        metrics.rank_agreement(a, a, 17)
    with pytest.raises(ValueError, match="k must be"):
        metrics.sign_agreement(a, a, 2.5)
    with pytest.raises(ValueError, match="map_b has shape"):
        metrics.feature_agreement(a, np.ones((4, 5)), 2)
    with pytest.raises(ValueError, match="map_a must be one"):
        metrics.signed_rank_agreement(np.ones((4, 4, 3)), a, 2)
    with pytest.raises(ValueError, match="NaN"):
        metrics.feature_agreement(a, np.full((4, 4), np.nan), 2)


# --------------------------------------------------------------------------- relative stability (OpenXAI)
def test_relative_change_floors_small_divisors_and_is_scale_free():
    before = np.array([2.0, -4.0, 0.0, 1.0])
    after = np.array([1.0, -4.0, 0.03, 1.5])
    floor = 0.01 * np.abs(before).mean()  # 0.0175 replaces the 0
    expected = np.sqrt(0.5 ** 2 + 0.0 + (0.03 / floor) ** 2 + 0.5 ** 2)
    assert metrics.relative_change(before, after) == pytest.approx(expected)
    assert metrics.relative_change(10 * before, 10 * after) == pytest.approx(expected)
    assert metrics.relative_change(before, after, p=1) == pytest.approx(0.5 + 0.03 / floor + 0.5)
    assert metrics.relative_change(before, before) == 0.0
    assert metrics.relative_change(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="same size"):
        metrics.relative_change(before, after[:3])


def test_relative_stability_of_an_explainer_that_ignores_the_input_is_zero(linear, image):
    model, _ = linear
    target = int(predict(model, image[None])[0].argmax())

    def fixed(model, image, target):
        return np.arange(SIZE * SIZE, dtype=float).reshape(SIZE, SIZE)

    result = metrics.relative_stability(fixed, model, image, target, num_samples=4, noise_std=8.0, seed=3)
    assert result["kept"] == 4 and result["ris"] == 0.0 and result["ros"] == 0.0
    # a linear model's gradient is the same everywhere: its gradient map is perfectly stable too
    assert metrics.relative_input_stability(_saliency, model, image, target, num_samples=3, seed=3) == 0.0


def test_relative_stability_of_gradient_x_input_on_a_linear_model_by_hand(linear, image):
    model, w = linear
    target = int(predict(model, image[None])[0].argmax())

    def gradient_x_input(model, image, target):
        return (w * image).sum(-1)

    result = metrics.relative_stability(gradient_x_input, model, image, target, num_samples=5, noise_std=6.0, seed=2)
    assert result["kept"] == 5 and result["images"].shape == (5, SIZE, SIZE, 3)
    e_x = gradient_x_input(model, image, target)
    h_x = np.array([(w * image).sum(), 0.0])
    ris, ros = [], []
    for x2 in result["images"]:
        e_2, h_2 = gradient_x_input(model, x2, target), np.array([(w * x2).sum(), 0.0])
        numerator = metrics.relative_change(e_x, e_2)
        ris.append(numerator / metrics.relative_change(image, x2))
        ros.append(numerator / metrics.relative_change(h_x, h_2))
    # the model's logits are float32 and the logits barely move, hence the looser bound on ROS
    assert result["ris"] == pytest.approx(max(ris), rel=1e-3) and result["ros"] == pytest.approx(max(ros), rel=1e-2)
    assert result["ris"] > 0 and result["ros"] > result["ris"]


def test_output_stability_of_a_map_proportional_to_the_logit_is_the_root_of_the_pixel_count(linear, image):
    """e = h_0(x) * ones: the map's relative change is |dh_0| / |h_0| at every pixel, so its L2 norm is
    sqrt(H W) |dh_0| / |h_0|, and the logits' relative change is |dh_0| / |h_0| (the other logit stays 0)."""
    model, w = linear
    target = int(predict(model, image[None])[0].argmax())

    def logit_map(model, image, target):
        return np.full((SIZE, SIZE), float(predict(model, image[None], output="logit")[0, 0]))

    result = metrics.relative_stability(logit_map, model, image, target, num_samples=4, noise_std=6.0, seed=3)
    assert result["kept"] == 4
    assert result["ros"] == pytest.approx(SIZE, rel=1e-3)
    assert np.allclose(result["map_changes"] / result["logit_changes"], SIZE, rtol=1e-3)
    assert metrics.relative_output_stability(logit_map, model, image, target, num_samples=4,
                                             noise_std=6.0, seed=3) == result["ros"]


def test_relative_stability_keeps_only_perturbations_with_the_same_prediction(cnn, image):
    result = metrics.relative_stability(_saliency, cnn, image, 0, num_samples=3, noise_std=0.0)
    assert result["kept"] == 3 and result["ris"] == 0.0 and result["ros"] == 0.0  # x' = x: nothing changes
    noisy = metrics.relative_stability(_saliency, cnn, image, 0, num_samples=6, noise_std=30.0, seed=1)
    predicted = predict(cnn, np.concatenate([image[None], noisy["images"]])).argmax(1)
    assert noisy["kept"] == len(noisy["maps"]) and (predicted == predicted[0]).all()
    assert noisy["ris"] > 0 and np.isfinite(noisy["ros"])
    again = metrics.relative_stability(_saliency, cnn, image, 0, num_samples=6, noise_std=30.0, seed=1)
    assert again["ris"] == noisy["ris"]  # seeded


def test_relative_stability_rejects_bad_input(cnn, image):
    for kwargs, message in (({"num_samples": 0}, "num_samples"), ({"noise_std": -1.0}, "noise_std"),
                            ({"p": 0.5}, "p must be"), ({"floor": 0.0}, "floor"), ({"eps_min": 2.0}, "eps_min"),
                            ({"options": 3}, "options")):
        with pytest.raises(ValueError, match=message):
            metrics.relative_stability(_saliency, cnn, image, 0, **kwargs)
    with pytest.raises(ValueError, match="Unknown method"):
        metrics.relative_input_stability("no_such_method", cnn, image, 0)
