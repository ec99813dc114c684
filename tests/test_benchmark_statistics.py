"""benchmarks.statistics on synthetic data whose answer is known (numpy and scipy only, no TensorFlow)."""
import numpy as np
import pytest

from benchmarks import statistics as st


def test_bootstrap_mean_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(3).normal(0.4, 0.1, 40)
    first = st.bootstrap_mean(values, seed=1)
    assert first == st.bootstrap_mean(values, seed=1)
    assert first != st.bootstrap_mean(values, seed=2)
    assert first["low"] < first["mean"] < first["high"] and first["n"] == 40 and first["resamples"] == 2000
    assert first["mean"] == pytest.approx(values.mean())
    # the interval's half width is about 1.96 standard errors
    assert (first["high"] - first["low"]) / 2 == pytest.approx(1.96 * values.std() / np.sqrt(40), rel=0.15)


def test_bootstrap_mean_drops_missing_values_and_handles_tiny_samples():
    out = st.bootstrap_mean([0.2, None, float("nan"), 0.4])
    assert out["n"] == 2 and out["mean"] == pytest.approx(0.3)
    one = st.bootstrap_mean([0.7])
    assert one["n"] == 1 and one["low"] == one["high"] == one["mean"] == 0.7
    assert st.bootstrap_mean([None, None])["mean"] is None
    with pytest.raises(ValueError, match="level"):
        st.bootstrap_mean([1, 2], level=95)


@pytest.mark.parametrize("draw", ["normal", "skewed", "binary"])
def test_interval_covers_the_true_mean_in_about_95_percent_of_samples(draw):
    rng = np.random.default_rng(7)
    true_mean = {"normal": 0.3, "skewed": 1.0, "binary": 0.7}[draw]
    covered, trials = 0, 300
    for k in range(trials):
        if draw == "normal":
            sample = rng.normal(true_mean, 0.2, 40)
        elif draw == "skewed":
            sample = rng.exponential(true_mean, 40)
        else:
            sample = (rng.random(40) < true_mean).astype(float)
        out = st.bootstrap_mean(sample, resamples=1000, seed=k)
        covered += out["low"] <= true_mean <= out["high"]
    # the percentile bootstrap under-covers a little at n = 40 (about 93-94%); 300 trials give +-2.5%
    assert 0.88 <= covered / trials <= 0.985, covered / trials


def test_a_clear_difference_is_reproduced_and_the_reverse_claim_is_not():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.1, 0.3, 30)
    a = b - 0.05 + rng.normal(0, 0.01, 30)  # A lower (better) on every image
    test = st.paired_test(a, b, better="lower", names=("rise", "grad_cam"))
    assert test["verdict"] == st.REPRODUCED and test["claim"] == "rise < grad_cam"
    assert test["high"] < 0 and test["wilcoxon_p"] < 1e-6 and test["mean_difference"] == pytest.approx(-0.05, abs=0.01)
    reverse = st.paired_test(b, a, better="lower")
    assert reverse["verdict"] == st.NOT_REPRODUCED and reverse["low"] > 0
    assert st.paired_test(a, b, better="higher")["verdict"] == st.NOT_REPRODUCED


def test_identical_inputs_and_tiny_samples_are_not_resolved():
    values = np.random.default_rng(1).uniform(0, 1, 25)
    same = st.paired_test(values, values.copy())
    assert same["verdict"] == st.NOT_RESOLVED and same["wilcoxon_p"] == 1.0 and same["low"] == same["high"] == 0
    # three photos, all in A's favour: the Wilcoxon test cannot reach p < 0.05 with 3 pairs (smallest p 0.25)
    three = st.paired_test([0.09, 0.10, 0.08], [0.17, 0.18, 0.16])
    assert three["verdict"] == st.NOT_RESOLVED and three["wilcoxon_p"] >= 0.25 and three["high"] < 0
    noise = np.random.default_rng(2)
    a, b = noise.normal(0.5, 0.1, 20), noise.normal(0.5, 0.1, 20)
    assert st.paired_test(a, b)["verdict"] == st.NOT_RESOLVED
    assert st.paired_test([None, 1.0], [0.5, None])["verdict"] == st.NOT_RESOLVED


def test_a_margin_resolves_no_difference_that_matters():
    rng = np.random.default_rng(4)
    base = rng.uniform(0.2, 0.8, 200)
    a = base + rng.normal(0, 0.005, 200)
    test = st.paired_test(a, base, better="higher", margin=0.02)
    assert test["verdict"] == st.NOT_REPRODUCED and "within" in test["reason"]
    assert st.paired_test(a, base, better="higher")["verdict"] == st.NOT_RESOLVED
    with pytest.raises(ValueError, match="one value per image"):
        st.paired_test([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="better"):
        st.paired_test([1, 2], [1, 2], better="smaller")


def test_ranking_check_needs_every_adjacent_pair():
    rng = np.random.default_rng(5)
    grad_cam = rng.uniform(0.15, 0.25, 40)
    scores = {"rise": grad_cam - 0.08 + rng.normal(0, 0.01, 40), "lime": grad_cam - 0.04 + rng.normal(0, 0.01, 40),
              "grad_cam": grad_cam}
    ok = st.ranking_check(scores, ["rise", "lime", "grad_cam"], better="lower")
    assert ok["verdict"] == st.REPRODUCED and len(ok["pairs"]) == 2 and ok["n"] == 40
    assert [p["claim"] for p in ok["pairs"]] == ["rise < lime", "lime < grad_cam"]
    wrong = st.ranking_check(scores, ["lime", "rise", "grad_cam"], better="lower")
    assert wrong["verdict"] == st.NOT_REPRODUCED and wrong["pairs"][0]["reversed_at_bonferroni_level"]
    scores["lime"] = scores["rise"] + rng.normal(0, 0.01, 40)  # rise and lime now indistinguishable
    assert st.ranking_check(scores, ["rise", "lime", "grad_cam"])["verdict"] == st.NOT_RESOLVED
    with pytest.raises(ValueError, match="No scores"):
        st.ranking_check(scores, ["rise", "occlusion"])


def test_sample_size_formula_bound_and_pilot():
    bound = st.pointing_game_sample_size(0.1)
    z = 1.959964 + 0.841621
    assert bound["n"] == int(np.ceil(z ** 2 * 0.5 / 0.01)) == 393
    assert bound["n_any_correlation"] == int(np.ceil(z ** 2 * 0.99 / 0.01))
    assert bound["n_wilcoxon"] == int(np.ceil(393 / st.WILCOXON_MIN_EFFICIENCY)) and "binomial" in bound["source"]
    # a pilot in which A hits on 10 images B misses and B on 5 that A misses, of 50
    a = np.r_[np.ones(10), np.zeros(5), np.ones(20), np.zeros(15)]
    b = np.r_[np.zeros(10), np.ones(5), np.ones(20), np.zeros(15)]
    pilot = st.pointing_game_sample_size(0.1, pilot_a=a, pilot_b=b)
    assert pilot["pilot_variance"] == pytest.approx(np.var(a - b, ddof=1))
    assert pilot["n"] == int(np.ceil(z ** 2 * pilot["variance"] / 0.01)) < bound["n"]
    # identical hits: the variance is floored at delta (1 - delta), never zero
    same = st.pointing_game_sample_size(0.1, pilot_a=a, pilot_b=a)
    assert same["variance"] == pytest.approx(0.09) and same["n"] == int(np.ceil(z ** 2 * 0.09 / 0.01))
    with pytest.raises(ValueError, match="both methods"):
        st.pointing_game_sample_size(0.1, pilot_a=a)


def test_sample_size_gives_about_the_promised_power():
    """At the formula's n the verdict 'reproduced' comes out in about 80% of simulated studies."""
    p_a_only, p_b_only = 0.15, 0.05  # a true difference of 0.1, with 20% discordant images
    variance = p_a_only + p_b_only - (p_a_only - p_b_only) ** 2
    a, b = st.simulate_paired_hits(20_000, p_a_only, p_b_only, seed=1)
    assert (a - b).mean() == pytest.approx(0.1, abs=0.01) and np.var(a - b) == pytest.approx(variance, abs=0.01)
    n = st.pointing_game_sample_size(0.1, pilot_a=a, pilot_b=b)["n_wilcoxon"]
    assert 150 < n < 200, n
    power = st.simulated_power(n, p_a_only, p_b_only, simulations=120, resamples=400, seed=3)
    assert 0.7 <= power <= 0.97, power
    weak = st.simulated_power(n // 4, p_a_only, p_b_only, simulations=120, resamples=400, seed=3)
    assert weak < power - 0.2, (weak, power)
