"""Benchmark sizes: ``QUICK`` for CI (about three minutes), ``FULL`` for the committed results."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

PARTS = ("throughput", "targets", "libraries", "agreement", "photos", "cue")  # in the order they run


@dataclass(frozen=True)
class Config:
    """How much to measure. Every count here is a trade of run time against noise."""

    name: str
    photos: int                 # bundled photos explained by every method (ImageNet model)
    cue_images: int             # planted-cue test images per cue model
    repeats: int                # timed repetitions of each cheap measurement (the median is kept)
    perturbation_samples: int   # N model evaluations of lime / kernel_shap / rise in the targets
    score_cam_maps: int         # maps for Score-CAM against tf-keras-vis Scorecam
    ig_steps: int               # m steps of Integrated Gradients in its target
    lime_library_batches: tuple[int, ...] = (10, 256)
    shap_evals: int = 500       # shap Partition explainer max_evals
    metric_steps: int = 32      # deletion / insertion curve steps
    quality_samples: int = 500  # samples of sampling methods inside the quality benchmark
    ig_max_steps: int = 1024    # Integrated Gradients doubles its steps up to this until its gap is < 5%
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

    def as_dict(self) -> dict:
        return asdict(self)


FULL = Config(name="full", photos=3, cue_images=9, repeats=3, perturbation_samples=1000, score_cam_maps=1280,
              ig_steps=64, quality_samples=300)
QUICK = Config(name="quick", photos=1, cue_images=2, repeats=1, perturbation_samples=64, score_cam_maps=32,
               ig_steps=16, lime_library_batches=(10, 256), shap_evals=64, metric_steps=8, quality_samples=32,
               ig_max_steps=128, smoothgrad_samples=25,
               sanity_stages=1, stability_repeats=2, throughput_batches=(1, 16, 32), agreement_photos=1,
               agreement_masks=128, agreement_scores=("probability",), smoothgrad_budgets=(25, 50))


def tiny(config: Config = QUICK) -> Config:
    """An even smaller configuration for the unit test of the benchmark's plumbing."""
    return replace(config, name="tiny", repeats=1, perturbation_samples=32, score_cam_maps=16, ig_steps=8,
                   lime_library_batches=(32,), shap_evals=32, metric_steps=4, quality_samples=32,
                   sanity_stages=1, stability_repeats=2, throughput_batches=(1, 16), cue_images=2,
                   agreement_photos=1, agreement_masks=32, smoothgrad_budgets=(4, 8),
                   methods=("grad_cam", "saliency"), target_groups=("grad_cam",))
