"""Self-checking exercises in the style of Kaggle Learn: ``q1.check(answer)``, ``q1.hint()``, ``q1.solution()``.

Introduced at the end of notebook 00 and used by every notebook. An exercise asks the student to write a small
function; :meth:`Exercise.check` runs it on fixed example inputs, compares the result with the reference
solution's, and prints one of three things without raising:

* ``not attempted yet`` while the answer is still the placeholder (``...``, ``None``, a function whose body is
  ``...``, or one that raises ``NotImplementedError``);
* ``correct`` with one sentence on why the result matters;
* a specific hint when the result equals that of a known mistake (softmax instead of logit, forgetting the
  ReLU, the wrong axis, ...), else a generic "not yet" that says what differs.

The reference solutions live in the per-notebook modules of this package (``utils.exercises.nb05`` and so on),
not in the notebooks; ``solution()`` prints the reference's source.
"""
from __future__ import annotations

import copy
import inspect
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NOT_ATTEMPTED = "not attempted yet"
CORRECT = "correct"
INCORRECT = "not yet"


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer and the hint a student who made it needs."""

    hint: str
    answer: Callable[..., Any]


@dataclass(frozen=True)
class Feedback:
    """What :meth:`Exercise.check` decided: ``status`` is one of NOT_ATTEMPTED, CORRECT, INCORRECT."""

    status: str
    message: str

    @property
    def correct(self) -> bool:
        return self.status == CORRECT


def _is_placeholder(value: Any) -> bool:
    return value is None or value is Ellipsis


def results_match(got: Any, expected: Any, rtol: float, atol: float) -> bool:
    """True when two results agree: same kind of thing, same shape, numbers within the tolerances."""
    if expected is None:
        return got is None
    if isinstance(expected, str):
        return isinstance(got, str) and got == expected
    if isinstance(expected, (bool, np.bool_)):
        return isinstance(got, (bool, np.bool_)) and bool(got) == bool(expected)
    if isinstance(expected, dict):
        return isinstance(got, dict) and got.keys() == expected.keys() and all(
            results_match(got[k], expected[k], rtol, atol) for k in expected)
    if isinstance(expected, (tuple, list)) and not _numeric(expected):
        return isinstance(got, (tuple, list)) and len(got) == len(expected) and all(
            results_match(g, e, rtol, atol) for g, e in zip(got, expected))
    if isinstance(got, (str, bool, np.bool_)) or got is None:
        return False
    try:
        got_array = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return False
    expected_array = np.asarray(expected, dtype=float)
    if got_array.shape != expected_array.shape:
        return False
    return bool(np.allclose(got_array, expected_array, rtol=rtol, atol=atol, equal_nan=False))


def _numeric(values: Sequence) -> bool:
    try:
        np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return False
    return True


def _call(answer: Any, args: tuple) -> Any:
    """The student's result for one example: a function is called on a copy of the arguments (so it cannot
    change the examples); a value answers an exercise whose reference takes no arguments."""
    if callable(answer):
        return answer(*copy.deepcopy(args))
    return answer


def _describe(got: Any, expected: Any) -> str:
    """One short phrase on how a wrong result differs from the expected one."""
    try:
        got_array, expected_array = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return f"expected a result like {type(expected).__name__}, got {type(got).__name__}"
    if got_array.shape != expected_array.shape:
        return f"expected shape {expected_array.shape}, got {got_array.shape}"
    if not np.all(np.isfinite(got_array)):
        return "your result contains nan or inf"
    return "the shape is right but the values differ"


@dataclass
class Exercise:
    """One exercise: the reference solution, the example inputs it is checked on, and the known mistakes.

    ``examples`` returns a list of argument tuples (built lazily, so importing the module stays cheap);
    the student's function must give the reference's result on every one of them.
    """

    number: int
    title: str
    reference: Callable[..., Any]
    examples: Callable[[], list[tuple]]
    why: str
    hint_text: str
    mistakes: Sequence[Mistake] = field(default_factory=tuple)
    rtol: float = 1e-4
    atol: float = 1e-6
    _cache: list | None = field(default=None, init=False, repr=False)

    def _cases(self) -> list[tuple[tuple, Any]]:
        if self._cache is None:
            self._cache = [(args, self.reference(*args)) for args in self.examples()]
        return self._cache

    def _matches(self, answer: Callable[..., Any]) -> bool:
        try:
            return all(results_match(_call(answer, args), expected, self.rtol, self.atol)
                       for args, expected in self._cases())
        except Exception:
            return False

    def grade(self, answer: Any) -> Feedback:
        """Decide without printing; :meth:`check` prints what this returns."""
        label = f"Exercise {self.number} ({self.title})"
        if _is_placeholder(answer):
            return Feedback(NOT_ATTEMPTED, f"{label}: {NOT_ATTEMPTED}. Replace the `...`, then run this cell "
                                           f"again; q{self.number}.hint() gives a hint.")
        first_args, first_expected = self._cases()[0]
        if not callable(answer) and first_args:
            return Feedback(INCORRECT, f"{label}: {INCORRECT}: expected a function, got {type(answer).__name__}.")
        try:
            first = _call(answer, first_args)
        except NotImplementedError:
            return Feedback(NOT_ATTEMPTED, f"{label}: {NOT_ATTEMPTED}. Fill in the function body.")
        except Exception as error:  # the student's code: report it in one line, never a traceback
            return Feedback(INCORRECT, f"{label}: {INCORRECT}: your function raised "
                                       f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
        if _is_placeholder(first):
            return Feedback(NOT_ATTEMPTED, f"{label}: {NOT_ATTEMPTED}. Your function returns {first!r}; "
                                           "replace the `...` in its body.")
        if self._matches(answer):
            return Feedback(CORRECT, f"{label}: {CORRECT}. {self.why}")
        for mistake in self.mistakes:
            if self._matches_mistake(answer, mistake):
                return Feedback(INCORRECT, f"{label}: {INCORRECT}. {mistake.hint}")
        return Feedback(INCORRECT, f"{label}: {INCORRECT}: {_describe(first, first_expected)}. "
                                   f"q{self.number}.hint() gives a hint.")

    def _matches_mistake(self, answer: Callable[..., Any], mistake: Mistake) -> bool:
        try:
            return all(results_match(_call(answer, args), _call(mistake.answer, args), self.rtol, self.atol)
                       for args, _ in self._cases())
        except Exception:
            return False

    def check(self, answer: Any) -> None:
        """Print whether ``answer`` is correct; never raises (use :meth:`grade` to get the verdict)."""
        print(self.grade(answer).message)

    def hint(self) -> None:
        """Print a hint that points at the idea without giving the code."""
        print(f"Hint for exercise {self.number}: {self.hint_text}")

    def solution(self) -> None:
        """Print the reference solution's source."""
        print(textwrap.dedent(inspect.getsource(self.reference)))
