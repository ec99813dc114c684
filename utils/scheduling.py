"""Run the folder pipeline's per-image work on Dask: one laptop's cores or a cluster, the same files.

Introduced in notebook 09 (LIME in practice), next to :mod:`utils.pipeline`::

    python -m utils.pipeline photos/ --methods grad_cam,lime --out out/ --scheduler local:2
    python -m utils.pipeline photos/ --methods grad_cam,lime --out out/ --scheduler tcp://host:8786

``--scheduler`` (``explain_folder(..., scheduler=)``) takes three forms, read by :func:`parse_scheduler`:

* ``local``: the in-process loop (the default; Dask is not even imported);
* ``local:N``: a ``distributed.LocalCluster`` of N worker processes on 127.0.0.1, one task thread each,
  TensorFlow and the BLAS libraries limited to ``cores // N`` threads per worker so N workers do not
  oversubscribe the cores;
* ``tcp://host:port``: an existing Dask scheduler (dask-jobqueue on SLURM, a Kubernetes Dask cluster, ...;
  docs/scaling.md); every worker needs this course installed (the same code and model weights: checked).

One task per image computes its prediction and every pending method's map (:func:`explain_image`, the
model loaded once per worker process); the client process alone writes files, through the same
:func:`utils.pipeline.write_image` as the in-process loop, so the CSV, maps, overlays, records and page
are identical, a killed worker (its task is rerun elsewhere by Dask) cannot tear a file, and a rerun
resumes where the last one stopped.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np

from utils.pipeline import (
    ImageJob,
    MethodResult,
    PipelineError,
    class_names,
    compute_method,
    image_target,
    load_pipeline_model,
    method_options,
    method_version,
    model_fingerprint,
    pending_methods,
    predict_top5,
    prepare_file,
    write_image,
)

if TYPE_CHECKING:
    from utils.pipeline import _Run

FORMS = "'local' (this process), 'local:N' (N worker processes on this machine, e.g. local:2) or a Dask " \
        "scheduler address such as tcp://host:8786"
INSTALL_HINT = "Dask is not installed: pip install -r requirements.txt (it pins dask and distributed)."
# Tasks in flight per worker thread: enough to keep every worker busy, few enough that the client holds
# only a handful of images in memory however large the folder.
TASKS_PER_THREAD = 2
CONNECT_TIMEOUT = "30s"


@dataclass(frozen=True)
class Scheduler:
    """A parsed ``--scheduler``: ``kind`` is ``"local"``, ``"cluster"`` (``workers`` processes on this
    machine) or ``"address"`` (an existing scheduler at ``address``)."""

    kind: str
    workers: int = 0
    address: str = ""


def parse_scheduler(value: str) -> Scheduler:
    """``"local"``, ``"local:N"`` or ``"tcp://host:port"`` -> :class:`Scheduler`; a one-line
    :class:`PipelineError` naming the three forms for anything else, or saying how to install Dask."""
    text = value.strip() if isinstance(value, str) else ""
    if text == "local":
        return Scheduler("local")
    kind, sep, rest = text.partition(":")
    if kind == "local" and sep and rest.isdigit() and int(rest) >= 1:
        chosen = Scheduler("cluster", workers=int(rest))
    elif kind in ("tcp", "tls") and rest.startswith("//") and rest[2:].rpartition(":")[2].isdigit() \
            and rest[2:].rpartition(":")[0]:
        chosen = Scheduler("address", address=text)
    else:
        raise PipelineError(f"--scheduler must be {FORMS}; got {value!r}.")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise PipelineError(INSTALL_HINT) from None
    return chosen


def worker_environment(workers: int, cores: int | None = None) -> dict[str, str]:
    """Thread limits for each of ``workers`` processes sharing ``cores`` (this machine's by default):
    TensorFlow's intra-op pool and the BLAS/OpenMP pools get ``cores // workers`` (at least 1) threads
    each, so the workers together use the cores once, not ``workers`` times over."""
    from dask.system import CPU_COUNT

    threads = str(max(1, (cores or CPU_COUNT) // workers))
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TF_CPP_MIN_LOG_LEVEL": "2",
            "TQDM_DISABLE": "1"}


@contextmanager
def open_client(engine: Scheduler, log=print) -> Iterator[Any]:
    """A ``distributed.Client`` for ``engine``: a LocalCluster it starts (and always stops) on 127.0.0.1, or
    a connection to an existing scheduler. Logs the dashboard link when the scheduler serves one."""
    import importlib.util

    from distributed import Client, LocalCluster

    cluster = None
    bokeh = importlib.util.find_spec("bokeh") is not None  # the dashboard's pages need it
    try:
        if engine.kind == "cluster":
            dashboard = "127.0.0.1:0" if bokeh else None
            cluster = LocalCluster(n_workers=engine.workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=dashboard, silence_logs=40,
                                   env=worker_environment(engine.workers))
            client = Client(cluster)
        else:
            client = Client(engine.address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:
        if cluster is not None:
            cluster.close()
        where = engine.address or f"a LocalCluster of {engine.workers} worker(s)"
        raise PipelineError(f"cannot reach the Dask scheduler at {where} ({str(err).splitlines()[0][:160]}); "
                            "start it, or check the address.") from None
    try:
        # A LocalCluster serves the dashboard only with bokeh installed here; a remote scheduler says if it has one.
        if (bokeh or cluster is None) and client.scheduler_info().get("services", {}).get("dashboard"):
            log(f"Dask dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------- on a worker
_MODELS: dict[str, tuple[Any, list[str]]] = {}  # model name -> (model, class names), once per worker process
_CHECKED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class ImageTask:
    """What a worker needs for one image: the model (by name, with the fingerprint and method code the
    client expects), the pixels, the prediction if the client reuses one, and each method's options."""

    model: str
    model_key: str
    method_codes: Mapping[str, str]
    image: np.ndarray
    target: str | int
    prediction: dict | None
    methods: Sequence[str]  # the methods to compute (every method of the run when prediction is None)
    options: Mapping[str, Mapping[str, Any]]
    metrics: bool


@dataclass(frozen=True)
class ImageResult:
    """A worker's answer for one image: the prediction it used and each computed method's result."""

    prediction: dict
    target: int
    methods: Mapping[str, MethodResult]


def worker_model(name: str, model_key: str, method_codes: Mapping[str, str]):
    """The model ``name`` and its class names, loaded once per worker process, after checking that this
    worker has the same weights and method code as the client (else its maps would be other maps)."""
    if name not in _MODELS:
        from utils.explain import base

        base.SHOW_PROGRESS = False
        net = load_pipeline_model(name)
        _MODELS[name] = (net, class_names(net))
    net, labels = _MODELS[name]
    if (name, model_key) not in _CHECKED:
        if model_fingerprint(name, net) != model_key:
            raise PipelineError(f"a Dask worker's {name} (weights or zoo code) differs from the client's; install the "
                                "same version of the course on every worker.")
        _CHECKED.add((name, model_key))
    for method, code in method_codes.items():
        if (method, code) not in _CHECKED:
            if method_version(method) != code:
                raise PipelineError(f"a Dask worker's code of {method} differs from the client's; install the same "
                                    "version of the course on every worker.")
            _CHECKED.add((method, code))
    return net, labels


def explain_image(task: ImageTask) -> ImageResult:
    """The Dask task of one image: its prediction (unless reused) and the map of every method asked for.
    Pure: writes nothing, so a worker killed halfway loses only this task, which Dask runs again."""
    net, labels = worker_model(task.model, task.model_key, {m: task.method_codes[m] for m in task.methods})
    prediction = task.prediction or predict_top5(net, labels, task.image)
    target = image_target(task.target, prediction)
    results = {m: compute_method(net, m, task.image, target, task.options[m], task.metrics) for m in task.methods}
    return ImageResult(prediction={"top5": prediction["top5"]}, target=target, methods=results)


# --------------------------------------------------------------------------- on the client
def _task(run: _Run, job: ImageJob, model: str) -> ImageTask | None:
    """The task for ``job``, or None when every map is on disk already (nothing to compute)."""
    if job.prediction is None:
        methods = list(run.methods)
    else:
        methods = pending_methods(run, job, image_target(run.target, job.prediction))
        if not methods:
            return None
    return ImageTask(model=model, model_key=run.model_key, method_codes=run.method_codes, image=job.image,
                     target=run.target, prediction=job.prediction, methods=methods,
                     options={m: method_options(m, run.options, run.seed, run.cheap) for m in methods},
                     metrics=run.metrics)


def _write(run: _Run, job: ImageJob, result: ImageResult | None) -> dict[str, Any]:
    """Write one image's outputs from a worker's result (or from disk alone when ``result`` is None)."""
    def method_result(method: str, target: int) -> MethodResult:
        if result is None or target != result.target or method not in result.methods:
            raise RuntimeError(f"{job.rel}: the worker did not compute {method} for class {target}")
        return result.methods[method]

    prediction = job.prediction if result is None else result.prediction
    return write_image(run, job, prediction, method_result)


def explain_files(files: Sequence[tuple[Path, str]], run: _Run, engine: Scheduler, rows: list[dict[str, Any]],
                  model: str, progress: bool = True) -> None:
    """Explain ``files`` (from :func:`utils.pipeline.list_files`) on the Dask cluster of ``engine``, appending
    one summary row per file to ``rows`` as its outputs are written (so an interruption keeps the count).

    The client reads each file, sends one :class:`ImageTask` per image that needs the model (at most
    :data:`TASKS_PER_THREAD` per worker thread in flight) and writes each result as it completes. A progress
    bar shows the images done and the time left. Dask errors become one-line :class:`PipelineError` s.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    with open_client(engine, log=run.log) as client:
        window = max(1, TASKS_PER_THREAD * max(1, sum(client.nthreads().values())))
        in_flight: dict[str, tuple[Any, ImageJob]] = {}  # task key -> (future, job)
        running = as_completed()
        bar = tqdm(total=len(files), desc="images", disable=not progress, leave=False)

        def collect(future) -> None:
            job = in_flight.pop(future.key)[1]
            try:
                result = future.result()
            except PipelineError:
                raise
            except Exception as err:  # noqa: BLE001 - a worker-side failure (or a task killed too often): one line
                raise PipelineError(f"{job.rel}: the Dask task failed ({type(err).__name__}: "
                                    f"{str(err).splitlines()[0][:200] if str(err) else 'no message'})") from None
            rows.append(_write(run, job, result))
            bar.update()

        try:
            for path, rel in files:
                job = prepare_file(path, rel, run)
                if not isinstance(job, ImageJob):
                    rows.append(job)
                    bar.update()
                    continue
                task = _task(run, job, model)
                if task is None:
                    rows.append(_write(run, job, None))
                    bar.update()
                    continue
                future = client.submit(explain_image, task, key=f"explain-{job.name}-{uuid.uuid4().hex[:8]}",
                                       pure=False)
                in_flight[future.key] = (future, job)
                running.add(future)
                while running.count() >= window:
                    collect(next(running))
            for future in running:
                collect(future)
        except BaseException:
            client.cancel([future for future, _ in in_flight.values()])
            raise
        finally:
            bar.close()


def worker_pids(client) -> dict[str, int]:
    """Each worker's process id (address -> pid), e.g. to see the workers in ``top`` or to test a kill."""
    return client.run(os.getpid)
