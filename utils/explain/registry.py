"""The registry of explainers: ``METHODS`` and the metadata every caller reads instead of guessing.

A method registers where it is defined, with one decorator::

    @explainer("grad_cam", family="cam", signed=False, needs_gradients=True, needs_conv_layer=True)
    def grad_cam(model, image, target, *, layer=None, ...) -> np.ndarray: ...

``METHODS[name]`` is then an :class:`Explainer`: called like the function, ``(model, image, target,
**options) -> (H, W) map``, with ``.info`` (an :class:`ExplainerInfo`) telling its family, whether its
map is signed, whether it samples (takes ``seed``), which option is its budget, cheap settings for a
quick run and what it needs from the model. The pipeline, the metrics and the benchmarks read
``.info``; this module is the only place that looks at a function's signature (once, at registration).

``utils.explain`` imports every module of its folder (:func:`import_modules`), so a new file with a
decorated function is in ``METHODS`` without any other edit. ``METHODS`` is ordered by family
(:data:`FAMILIES`), then by each method's ``order`` within its family, then by registration.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import math
import pkgutil
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

FAMILIES = ("perturbation", "cam", "gradient", "path")
ARGUMENTS = ("model", "image", "target")  # what every explainer takes first, in this order


class ReadOnlyOptions(dict):
    """A dict of options that refuses changes (``dict(options)`` gives a copy to change), so no caller can
    alter the registry's settings by accident; it still copies, pickles and goes to JSON as a dict."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("an explainer's registered options are read-only; change a copy: dict(options)")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self):
        return type(self), (dict(self),)


@dataclass(frozen=True)
class ExplainerInfo:
    """What a caller may rely on about one registered explainer."""

    name: str
    family: str  # one of FAMILIES
    signed: bool  # values carry a sign (positive = evidence for the class); else importance only
    stochastic: bool  # it samples: takes ``seed``, and the same seed gives the same map
    budget: str | None  # the option that sets the number of model evaluations (None: fixed cost)
    quick: ReadOnlyOptions  # options that make a cheap run
    needs_gradients: bool  # differentiates the model
    needs_conv_layer: bool  # reads the feature maps of a convolutional layer (takes ``layer``)
    options: tuple[str, ...]  # the keyword options the function takes, after model, image, target


class Explainer:
    """A registered explainer: call it like the function it wraps; ``.info`` is its :class:`ExplainerInfo`.

    ``functools.update_wrapper`` makes its name, docstring, ``inspect.signature`` and ``help()`` those
    of the function (``.__wrapped__``). An option the function does not take raises a one-line
    ValueError that lists the options it does take.
    """

    def __init__(self, fn: Callable, info: ExplainerInfo, position: tuple[float, ...]):
        functools.update_wrapper(self, fn)
        self.info = info
        self.position = position  # the sort key of METHODS

    def __call__(self, model, image, target, **options):
        unknown = [key for key in options if key not in self.info.options]
        if unknown:
            takes = ", ".join(self.info.options) or "none"
            raise ValueError(f"{self.info.name} does not take the option(s) {', '.join(map(repr, unknown))}; "
                             f"the options it takes: {takes}.")
        return self.__wrapped__(model, image, target, **options)

    def __get__(self, obj, objtype=None):
        """Bind like a function when stored on a class (and let ``help()`` show it as a function)."""
        return self if obj is None else types.MethodType(self, obj)

    def __reduce__(self) -> str:
        return self.__qualname__  # pickled by reference, as a function is

    def __repr__(self) -> str:
        return f"<explainer {self.info.name!r} ({self.info.family}) from {self.__module__}>"


METHODS: dict[str, Explainer] = {}
_registrations = itertools.count()  # the last tie-break of the order


def _options(name: str, fn: Callable) -> tuple[str, ...]:
    """The keyword options of ``fn`` after (model, image, target); one-line errors for another shape."""
    params = list(inspect.signature(fn).parameters.values())
    if [p.name for p in params[:3]] != list(ARGUMENTS):
        raise ValueError(f"explainer {name!r}: the function must start with (model, image, target), "
                         f"got ({', '.join(p.name for p in params[:3])}).")
    rest = params[3:]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY) for p in rest):
        raise ValueError(f"explainer {name!r}: list every option by name (no *args, **kwargs or positional-only "
                         "options), so that callers can check them.")
    return tuple(p.name for p in rest)


def _check_info(info: ExplainerInfo) -> None:
    """Refuse metadata that contradicts the function, with a one-line ValueError."""
    where = f"explainer {info.name!r}"
    if info.family not in FAMILIES:
        raise ValueError(f"{where}: family must be one of {', '.join(FAMILIES)}, got {info.family!r}.")
    if info.budget is not None and info.budget not in info.options:
        raise ValueError(f"{where}: its budget {info.budget!r} is not among its options ({', '.join(info.options)}).")
    stray = [key for key in info.quick if key not in info.options]
    if stray:
        raise ValueError(f"{where}: quick options {stray} are not among its options ({', '.join(info.options)}).")
    if info.stochastic and "seed" not in info.options:
        raise ValueError(f"{where}: stochastic=True but it takes no seed option (a sampling method takes seed).")
    if not info.stochastic and "seed" in info.options:
        raise ValueError(f"{where}: it takes a seed option, so it samples: pass stochastic=True.")
    if info.needs_conv_layer and "layer" not in info.options:
        raise ValueError(f"{where}: needs_conv_layer=True but it takes no layer option.")


def explainer(name: str, *, family: str, signed: bool, needs_gradients: bool, stochastic: bool = False,
              budget: str | None = None, quick: Mapping[str, Any] | None = None, needs_conv_layer: bool = False,
              order: int | None = None) -> Callable[[Callable], Explainer]:
    """Decorator: register the function as explainer ``name`` in :data:`METHODS`, with its metadata.

    ``order`` is its position within its family in :data:`METHODS` (None: after the numbered ones, in the
    order of registration). Registering a name that another function already holds raises a one-line
    ValueError; the same function registered again (its module re-imported) replaces itself.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"an explainer's name must be a Python identifier such as 'grad_cam', got {name!r}.")

    def decorate(fn: Callable) -> Explainer:
        previous = METHODS.get(name)
        if previous is not None and (previous.__module__, previous.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"two explainers registered as {name!r}: {previous.__module__}.{previous.__qualname__} "
                             f"and {fn.__module__}.{fn.__qualname__}.")
        info = ExplainerInfo(name=name, family=family, signed=bool(signed), stochastic=bool(stochastic),
                             budget=budget, quick=ReadOnlyOptions(quick or {}),
                             needs_gradients=bool(needs_gradients), needs_conv_layer=bool(needs_conv_layer),
                             options=_options(name, fn))
        _check_info(info)
        position = (FAMILIES.index(family), math.inf if order is None else order, next(_registrations))
        METHODS[name] = Explainer(fn, info, position)
        ordered = sorted(METHODS.values(), key=lambda e: e.position)
        METHODS.clear()
        METHODS.update((e.info.name, e) for e in ordered)
        return METHODS[name]

    return decorate


def takes_option(fn: Callable, option: str) -> bool:
    """Whether explainer ``fn`` takes the keyword ``option``: from its registration (``fn.info.options``), or,
    for an unregistered callable (a wrapper, a student's own function), from its signature."""
    if isinstance(fn, Explainer):
        return option in fn.info.options
    params = inspect.signature(fn).parameters.values()
    return any(p.name == option or p.kind is p.VAR_KEYWORD for p in params)


def import_modules(package: str, path: Iterable[str]) -> list[str]:
    """Import every module found in ``path`` (a package's ``__path__``) as ``package.<module>``.

    Importing a module registers its explainers, so no hand-kept import list can forget one.
    Returns the module names, in the (alphabetical) order they were imported.
    """
    names = [found.name for found in pkgutil.iter_modules(list(path))]
    for module in names:
        importlib.import_module(f"{package}.{module}")
    return names
