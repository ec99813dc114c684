"""Benchmark sizes: ``QUICK`` for CI (about three minutes), ``FULL`` for the committed results."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

PARTS = ("throughput", "targets", "libraries", "agreement", "photos", "cue", "library_quality")  # run in this order
DATA_PARTS = ("photos", "library_quality")  # the parts that run on ``--data`` images (benchmarks.datasets)

# Published rankings checked on the library_quality part's per-image scores of our methods (metric, order
# best first, which direction is better, source); a ranking whose methods did not all run is skipped.
RISE_PAPER = "Petsiuk et al. 2018 (RISE), ResNet50: RISE better than LIME better than Grad-CAM"
ADEBAYO = "Adebayo et al. 2018 (sanity checks): the gradient changes with the weights, Guided Backprop barely"
RANKINGS = (
    ("deletion_auc", ("rise", "lime", "grad_cam"), "lower", RISE_PAPER),
    ("insertion_auc", ("rise", "lime", "grad_cam"), "higher", RISE_PAPER),
    ("sanity_rank_correlation_abs", ("saliency", "guided_backprop"), "lower", ADEBAYO),
    ("sanity_rank_correlation_abs", ("grad_cam", "guided_grad_cam"), "lower", ADEBAYO),
)


@dataclass(frozen=True)
class Config:
    """How much to measure. Every count here is a trade of run time against noise."""

    name: str
    photos: int                 # bundled photos explained by every method (ImageNet model)
    cue_images: int             # planted-cue test images per cue model
    repeats: int                # timed repetitions of each cheap measurement (the median is kept)
    perturbation_samples: int   # N model evaluations of lime / kernel_shap / rise in the targets
    score_cam_maps: int         # maps (Score-CAM's num_samples) against tf-keras-vis Scorecam
    ig_samples: int             # m path intervals (num_samples) of Integrated Gradients in its target
    lime_library_batches: tuple[int, ...] = (10, 256)
    cue_models: tuple[str, ...] = ("cue_resnet", "cue_mobilenet")  # the cue part's models, in this order
    shap_evals: int = 500       # shap Partition explainer max_evals
    metric_steps: int = 32      # deletion / insertion curve steps
    quality_samples: int = 500  # samples of sampling methods inside the quality benchmark
    ig_max_samples: int = 1024  # Integrated Gradients doubles its num_samples up to this until its gap is < 5%
    smoothgrad_samples: int | None = None  # SmoothGrad's budget in the quality benchmark (None = its default)
    sanity_stages: int = 3      # cascading randomisation stages of the sanity check
    stability_repeats: int = 3  # noisy copies for the stability score
    throughput_batches: tuple[int, ...] = (1, 16, 32, 64)
    agreement_photos: int = 5   # photos of the seed-to-seed agreement part (two seeds each)
    agreement_masks: int = 1000  # RISE masks per map there
    agreement_scores: tuple[str, ...] = ("probability", "logit")  # what RISE scores there
    smoothgrad_budgets: tuple[int, ...] = (25, 50, 100, 200, 400, 800)
    methods: tuple[str, ...] | None = None    # None = every method in METHODS
    target_groups: tuple[str, ...] = ("perturbation", "grad_cam", "score_cam", "integrated_gradients")
    # library_quality (benchmarks.library_quality): library maps next to ours, per image, with intervals.
    # Full size: every bundled photo (25) and 213 planted-cue images (cue_resnet), the images a pointing-game
    # difference of 0.1 needs for the median pair of rows in a 40-image pilot (scripts/size_cue_set.py). The
    # library defaults, which cost most (tf-keras-vis Scorecam over Lite0's 1280 channels: about 40 s a photo),
    # explain the first 4 photos and the first 40 cue images; the randomisation check and stability run on 8
    # cue images (on Lite0 each would cost every row's map six more times).
    library_models: tuple[str, ...] = ("efficientnet_lite0", "cue_resnet")  # photos / cue
    library_photos: int = 25            # bundled photos (Lite0)
    library_cue_images: int = 213       # planted-cue test images per cue model
    library_samples: int = 300          # matched budget of lime / shap Partition and of our lime / KernelSHAP
    library_gradient_samples: int = 64  # shap GradientExplainer nsamples (matched) = our IG num_samples
    library_smoothgrad_samples: int = 20  # tf-keras-vis SmoothGrad (matched) = our SmoothGrad samples
    library_score_cam_maps: int = 128   # tf-keras-vis Scorecam max_N (matched) = our Score-CAM num_samples
    library_default_budget_cap: int | None = None  # caps a library default's budget (quick runs; None: true defaults)
    library_metric_steps: int | None = 16  # deletion / insertion steps of library_quality (None: metric_steps)
    library_mufidelity_samples: int = 32  # subsets of MuFidelity per map
    library_pgi_samples: int = 4        # noise draws of PGI / PGU per map
    library_sanity_images: int = 8      # cue images with the randomisation check and the stability score
    library_sanity_photos: int = 0      # the same on the photos (each costs every row's map 6 times on Lite0)
    library_default_photos: int | None = 4  # photos explained by the library defaults (None: all)
    library_default_cue_images: int | None = 40  # cue images explained by the library defaults (None: all)
    library_resamples: int = 2000       # bootstrap resamples of every interval
    library_adapters: tuple[str, ...] | None = None  # None = every adapter in library_quality.ADAPTERS
    library_extra_ours: tuple[str, ...] = ("rise", "guided_backprop", "guided_grad_cam")  # for the rankings
    library_rankings: tuple = RANKINGS
    data: str | None = None             # run the per-image parts on this data set (benchmarks.datasets)
    data_limit: int | None = None       # at most this many of its images (None: all)

    def as_dict(self) -> dict:
        return asdict(self)


FULL = Config(name="full", photos=3, cue_images=9, repeats=3, perturbation_samples=1000, score_cam_maps=1280,
              ig_samples=64, quality_samples=300)
QUICK = Config(name="quick", photos=1, cue_images=2, repeats=1, perturbation_samples=32, score_cam_maps=32,
               ig_samples=16, lime_library_batches=(256,), target_groups=("perturbation", "grad_cam"),
               shap_evals=32, metric_steps=8, quality_samples=32, cue_models=("cue_resnet",),
               ig_max_samples=128, smoothgrad_samples=25, methods=("grad_cam", "lime", "saliency"),
               sanity_stages=1, stability_repeats=2, throughput_batches=(1, 16), agreement_photos=1,
               agreement_masks=64, agreement_scores=("probability",), smoothgrad_budgets=(10, 20),
               library_models=("cue_resnet",), library_photos=1, library_cue_images=2, library_samples=32,
               library_gradient_samples=8,
               library_smoothgrad_samples=4, library_score_cam_maps=16, library_default_budget_cap=32,
               library_mufidelity_samples=8, library_pgi_samples=2, library_sanity_images=1, library_resamples=500,
               library_extra_ours=())


def tiny(config: Config = QUICK) -> Config:
    """An even smaller configuration for the unit test of the benchmark's plumbing."""
    return replace(config, name="tiny", repeats=1, perturbation_samples=32, score_cam_maps=16, ig_samples=8,
                   lime_library_batches=(32,), shap_evals=32, metric_steps=4, quality_samples=32,
                   sanity_stages=1, stability_repeats=2, throughput_batches=(1, 16), cue_images=2,
                   agreement_photos=1, agreement_masks=32, smoothgrad_budgets=(4, 8),
                   methods=("grad_cam", "saliency"), target_groups=("grad_cam",),
                   library_models=("efficientnet_lite0", "cue_resnet", "cue_mobilenet"),
                   library_photos=1, library_cue_images=2, library_samples=16, library_gradient_samples=4,
                   library_smoothgrad_samples=2, library_score_cam_maps=4, library_default_budget_cap=8,
                   library_mufidelity_samples=4, library_pgi_samples=1, library_sanity_images=0,
                   library_resamples=200, library_adapters=("tf_keras_vis_gradcam", "lime_image"),
                   library_extra_ours=())
