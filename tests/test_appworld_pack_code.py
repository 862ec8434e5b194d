"""The task pack's ground truth as code (trirole/environments/appworld/pack/trirole_pack): the solution
modules (solutions/, imported here in trirole's venv), the evaluation modules (evaluations/, which
import appworld, so read here as source and compiled), and the pack build's cache key.
Pure: no AppWorld.

That each module's source is what lands in the generated task files, and that the tasks pass
with it, is checked on a real pack in test_appworld_pack.py (marker ``appworld``).
"""

from __future__ import annotations

import inspect
import shutil

import pytest

from trirole.environments.appworld import pack
from trirole_pack import evaluations, solutions
from trirole_pack.solutions import body_source, scenario_slugs, solve_function

# What a solution body can use: the ground-truth solution's arguments and the supervisor's logins.
CONTEXT_NAMES = {"apis", "public_data", "supervisor_profile", "passwords"}


def test_every_scenario_has_a_solve_function_that_returns_its_answer():
    slugs = scenario_slugs()
    assert len(slugs) >= 15
    for slug in slugs:
        solve = solve_function(slug)
        parameters = list(inspect.signature(solve).parameters)
        assert parameters[:2] == ["apis", "public_data"], slug
        assert all(name in CONTEXT_NAMES or name.endswith("_access_token") for name in parameters), slug
        statements = body_source(solve)
        assert statements and not statements.startswith((" ", "def ")), slug
        assert "return answer" not in statements.splitlines()[-1]
        compile(statements, f"solutions/{slug}.py", "exec")  # the inlined body parses on its own


def _header_over_two_lines(apis,
                           public_data):  # a header over two lines
    # a leading comment is part of the body
    if public_data:
        answer = apis(1)
    else:
        answer = None
    return answer


def _no_answer(apis, public_data):
    return None


def test_body_source_keeps_comments_and_drops_the_header_and_the_return():
    assert body_source(_header_over_two_lines) == (
        "# a leading comment is part of the body\n"
        "if public_data:\n"
        "    answer = apis(1)\n"
        "else:\n"
        "    answer = None"
    )
    with pytest.raises(ValueError, match="must end with `return answer`"):
        body_source(_no_answer)


def test_the_paging_helper_runs_through_every_page():
    pages = [[1, 2], [3], []]
    calls = []

    def api(page_index, page_limit, **kwargs):
        calls.append((page_index, kwargs))
        return pages[page_index]

    assert solutions.all_pages(api, access_token="t") == [1, 2, 3]
    assert calls == [(0, {"access_token": "t"}), (1, {"access_token": "t"}), (2, {"access_token": "t"})]


def test_every_scenario_has_evaluation_checks_with_a_collateral_guard():
    assert evaluations.scenario_slugs() == scenario_slugs()
    for slug in evaluations.scenario_slugs():
        path = evaluations.HERE / f"{slug}.py"
        compile(path.read_text(), str(path), "exec")  # the whole module is code
        evaluation = evaluations.evaluation(slug)
        assert evaluation.checks[0].requirement == "assert answers match.", slug
        assert any(check.collateral for check in evaluation.checks), slug
        assert any(check.label == "no_op_fail" for check in evaluation.checks), slug
        assert evaluation.body.startswith("with test(\n") and "predicted_answer" in evaluation.body
        compile(evaluation.body, f"evaluations/{slug}.py", "exec")  # the inlined body parses on its own


CHECKS = '''
OUTCOMES = [("no_op_pass", True), ("no_op_fail", False)]


def checks(test, public_data, private_data, main_user, models, ground_truth_answer, predicted_answer):
    with test(
        """
        assert nothing changed.
        """
    ):
        test.case(models.changed_model_names(), "==", set())
    with test("""assert the answer is right."""):
        test.answer(predicted_answer, ground_truth_answer)
'''


def test_read_evaluation_pairs_each_requirement_with_its_outcome():
    evaluation = evaluations.read_evaluation(CHECKS)
    assert evaluation.checks == [evaluations.Check("assert nothing changed.", "no_op_pass", True),
                                 evaluations.Check("assert the answer is right.", "no_op_fail", False)]
    assert evaluation.body.splitlines()[0] == "with test("
    assert evaluation.body.splitlines()[-1] == "    test.answer(predicted_answer, ground_truth_answer)"


@pytest.mark.parametrize("source, error", [
    (CHECKS.replace(', ("no_op_fail", False)', ""), "one \\(label, collateral\\) per `with test"),
    (CHECKS.replace('"no_op_fail"', '"fail"'), "each OUTCOMES entry"),
    (CHECKS.replace("    with test(\"\"\"assert", "    x = 1\n    with test(\"\"\"assert"), "every statement must be"),
    (CHECKS.replace("def checks", "def other"), "no function checks"),
])
def test_read_evaluation_rejects_a_malformed_module(source, error):
    with pytest.raises(ValueError, match=error):
        evaluations.read_evaluation(source)


def test_the_cache_key_covers_every_generator_source_and_not_the_verifier(tmp_path, monkeypatch):
    copy = tmp_path / "trirole_pack"
    shutil.copytree(pack.GENERATOR_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(pack, "GENERATOR_DIR", copy)
    assert {"solutions/notelookup.py", "evaluations/notelookup.py", "source.py"} <= set(pack.source_files())
    assert "verify.py" not in pack.source_files()
    original = pack.source_hash()

    (copy / "verify.py").write_text((copy / "verify.py").read_text() + "\n# reads packs only\n")
    assert pack.source_hash() == original
    solution = copy / "solutions" / "notelookup.py"
    solution.write_text(solution.read_text() + "\n")
    assert pack.source_hash() != original
    solution.rename(copy / "solutions" / "notelookup2.py")  # a renamed module is another pack
    changed = pack.source_hash()
    (copy / "solutions" / "notelookup2.py").rename(solution)
    assert pack.source_hash() != changed
