'''The evaluation checks, one module per scenario: ``evaluations/<slug>.py`` defines ``checks``
and ``OUTCOMES``.

``checks(test, public_data, private_data, main_user, models, ground_truth_answer, predicted_answer)``
is a sequence of AppWorld ``with test("""<requirement>"""):`` blocks over the start and end
databases (a block may use what an earlier one computed, as in AppWorld's own evaluation.py).
The generator does not call it: its statements are the body of every variant's
``ground_truth/evaluation.py``, after the prologue that reads the task's answer
(``common.ANSWER_PROLOGUE``, which defines ``predicted_answer``). ``OUTCOMES`` gives, per block in
order, the outcome a do-nothing solution gets (test_data.json's label, which verify.py checks
against a real no-op run) and whether the block guards against collateral damage.

The modules import appworld (``set_of``, ``list_of``), so only the AppWorld venv imports them;
they are read here as text (standard library only), which trirole's tests do too.
'''

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..source import function_body, function_source, parse_function

HERE = Path(__file__).resolve().parent
LABELS = ("no_op_fail", "no_op_pass")


@dataclass(frozen=True)
class Check:
    requirement: str  # dedented, as test_data.json and the evaluator report it
    label: str  # "no_op_fail" | "no_op_pass": the outcome under a do-nothing solution
    collateral: bool  # guards against changes the task should not make


@dataclass(frozen=True)
class Evaluation:
    body: str  # checks()'s statements, dedented
    checks: list[Check]


def scenario_slugs() -> list[str]:
    """The slugs of the scenarios that have an evaluation module, sorted."""
    return sorted(path.stem for path in HERE.glob("*.py") if path.name != "__init__.py")


def requirement(statement: ast.stmt) -> str:
    '''The requirement of a ``with test("""...""")`` block (a ValueError for any other statement).'''
    item = statement.items[0].context_expr if isinstance(statement, ast.With) and len(statement.items) == 1 else None
    if not (isinstance(item, ast.Call) and isinstance(item.func, ast.Name) and item.func.id == "test"
            and len(item.args) == 1 and isinstance(item.args[0], ast.Constant)
            and isinstance(item.args[0].value, str)):
        raise ValueError(f"line {statement.lineno} of checks(): every statement must be a "
                         '`with test("""<requirement>"""):` block')
    return textwrap.dedent(item.args[0].value).strip()


def read_evaluation(module_source: str, name: str = "evaluation module") -> Evaluation:
    """An evaluation module's checks and their outcomes, from its source text."""
    source = function_source(module_source, "checks")
    requirements = [requirement(statement) for statement in parse_function(source).body]
    outcomes = next((ast.literal_eval(node.value) for node in ast.parse(module_source).body
                     if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["OUTCOMES"]),
                    None)
    if outcomes is None or len(outcomes) != len(requirements):
        raise ValueError(f"{name}: OUTCOMES must list one (label, collateral) per `with test(...)` block of "
                         f"checks() ({len(requirements)})")
    if any(label not in LABELS or not isinstance(collateral, bool) for label, collateral in outcomes):
        raise ValueError(f"{name}: each OUTCOMES entry is (one of {LABELS}, True/False)")
    checks = [Check(text, label, collateral) for text, (label, collateral) in zip(requirements, outcomes)]
    return Evaluation(function_body(source), checks)


def evaluation(slug: str) -> Evaluation:
    """``evaluations/<slug>.py``, read."""
    path = HERE / f"{slug}.py"
    return read_evaluation(path.read_text(), name=f"evaluations/{slug}.py")
