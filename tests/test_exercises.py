"""The exercises' checks: every reference solution passes, and the placeholder and every listed mistake
(at least two per exercise) are rejected with the intended hint. The committed notebooks hold the student
version: a placeholder, a check call that prints "not attempted yet", and no reference solution."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from utils.exercises import all_exercises
from utils.exercises.core import CORRECT, INCORRECT, NOT_ATTEMPTED

ROOT = Path(__file__).resolve().parents[1]
MODULES = all_exercises()
CASES = [(module, exercise) for module, exercises in MODULES.items() for exercise in exercises]
IDS = [f"{module}-q{exercise.number}" for module, exercise in CASES]


def _notebook(module: str) -> dict:
    (path,) = (ROOT / "notebooks").glob(f"{module[2:]}_*.ipynb")
    return json.loads(path.read_text())


def test_every_notebook_has_three_or_four_exercises_numbered_in_order():
    assert sorted(MODULES) == [f"nb{n:02d}" for n in range(10)]
    for module, exercises in MODULES.items():
        assert 3 <= len(exercises) <= 4, module
        assert [e.number for e in exercises] == list(range(1, len(exercises) + 1)), module


@pytest.mark.parametrize(("module", "exercise"), CASES, ids=IDS)
def test_the_reference_solution_passes(module, exercise):
    feedback = exercise.grade(exercise.reference)
    assert feedback.status == CORRECT, feedback.message


@pytest.mark.parametrize(("module", "exercise"), CASES, ids=IDS)
def test_the_placeholder_is_not_attempted(module, exercise):
    def unfinished(*args):
        ...

    def raises(*args):
        raise NotImplementedError

    for placeholder in (None, Ellipsis, unfinished, raises):
        assert exercise.grade(placeholder).status == NOT_ATTEMPTED, placeholder


@pytest.mark.parametrize(("module", "exercise"), CASES, ids=IDS)
def test_plausible_mistakes_get_their_own_hint(module, exercise):
    assert len(exercise.mistakes) >= 2
    for mistake in exercise.mistakes:
        feedback = exercise.grade(mistake.answer)
        assert feedback.status == INCORRECT, f"a wrong answer was accepted: {mistake.hint}"
        assert mistake.hint in feedback.message, (feedback.message, mistake.hint)


@pytest.mark.parametrize(("module", "exercise"), CASES, ids=IDS)
def test_a_crashing_answer_is_reported_in_one_line(module, exercise):
    def crashes(*args):
        raise KeyError("oops")

    feedback = exercise.grade(crashes)
    assert feedback.status == INCORRECT and "KeyError" in feedback.message and "\n" not in feedback.message


@pytest.mark.parametrize(("module", "exercise"), CASES, ids=IDS)
def test_hint_and_solution_print(module, exercise, capsys):
    exercise.hint()
    exercise.solution()
    printed = capsys.readouterr().out
    assert exercise.hint_text in printed and f"def {exercise.reference.__name__}" in printed


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_committed_notebook_holds_the_student_version(module):
    cells = _notebook(module)["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    outputs = "\n".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code"
                        for o in c.get("outputs", []))
    assert "reference solution" not in code
    for exercise in MODULES[module]:
        assert f"q{exercise.number}.check(" in code, (module, exercise.number)
        assert f"Exercise {exercise.number} ({exercise.title}): {NOT_ATTEMPTED}" in outputs, (module, exercise.number)
        source = inspect.getsource(exercise.reference)
        assert source.count('"""') >= 2, f"{module} q{exercise.number}: the reference needs a docstring"
        body = source.split('"""')[-1].strip()
        assert body not in code, f"{module} q{exercise.number}: the reference solution is in the notebook"


def test_nb08_sign_agreement_is_the_metric_of_utils_and_differs_from_feature_agreement():
    from utils.evaluation import metrics
    from utils.exercises import nb08

    examples = nb08._pair_examples()
    for a, b, k in examples:
        assert nb08.sign_agreement(a, b, k) == metrics.sign_agreement(a, b, k)
        assert nb08._ignores_sign(a, b, k) == metrics.feature_agreement(a, b, k)
    assert any(metrics.sign_agreement(*case) < metrics.feature_agreement(*case) for case in examples)
