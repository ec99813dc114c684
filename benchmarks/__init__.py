"""Speed and quality benchmarks of the course's explainers, with their recorded results.

Run ``python -m benchmarks`` (full, several minutes per part) or ``python -m benchmarks --quick``
(CI, about three minutes on a quiet 2-core machine). Results go to ``benchmarks/results/``:
``results.md`` (tables and the issue's
targets, each MET or MISSED with its measured ratio), ``results.json`` (every number; notebook 08
reads it) and PNG plots.

Modules:

* :mod:`benchmarks.config`: the quick and full sizes;
* :mod:`benchmarks.timing`: median wall-clock timing, raw model throughput;
* :mod:`benchmarks.libraries`: lime, shap, tf-keras-vis and eli5 on the same model and image;
* :mod:`benchmarks.targets`: the issue's speed targets, each a ratio measured back to back;
* :mod:`benchmarks.agreement`: seed-to-seed agreement of RISE (two normalisations) and SmoothGrad (per budget);
* :mod:`benchmarks.quality`: time, model calls and quality metrics of every method in ``METHODS``;
* :mod:`benchmarks.library_quality`: the libraries' maps scored like ours, per image, next to ours;
* :mod:`benchmarks.statistics`: bootstrap intervals, paired tests of rankings, pointing-game sample sizes;
* :mod:`benchmarks.datasets`: the images of ``./get_dataset.sh`` for ``--data imagenette`` / ``coco-sample``;
* :mod:`benchmarks.report`: results.md, results.json and the plots.
"""
