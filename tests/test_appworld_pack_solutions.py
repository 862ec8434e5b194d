"""The task pack's ground-truth solutions as code (trirole/tools/appworld/pack/trirole_pack/solutions)
and the pack build's cache key. Pure: imports the solution modules in trirole's venv, no AppWorld.

That each module's source is what lands in the generated task files, and that the tasks pass
with it, is checked on a real pack in test_appworld_pack.py (marker ``appworld``).
"""

from __future__ import annotations

import inspect
import shutil

import pytest

from trirole.tools.appworld import pack
from trirole.tools.appworld.pack.trirole_pack import solutions
from trirole.tools.appworld.pack.trirole_pack.solutions import body_source, scenario_slugs, solve_function

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


def test_the_cache_key_covers_every_generator_source_and_not_the_verifier(tmp_path, monkeypatch):
    copy = tmp_path / "trirole_pack"
    shutil.copytree(pack.GENERATOR_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(pack, "GENERATOR_DIR", copy)
    assert "solutions/notelookup.py" in pack.source_files()
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
