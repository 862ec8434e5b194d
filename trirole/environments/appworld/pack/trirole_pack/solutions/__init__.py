"""The ground-truth solutions, one module per scenario: ``solutions/<slug>.py`` defines ``solve``.

``solve(apis, public_data, <app>_access_token, ...)`` is written the way an agent writes its code:
through the apps' APIs only, one ``<app>_access_token`` argument per app the scenario requires,
ending in ``return answer``. The generator does not call it: it copies its source. The statements
of ``solve`` (``body_source``) become the body of a task's ``ground_truth/solution.py`` and
``compiled_solution.py``, after the supervisor's logins (``common.login_preamble``, which define
the access tokens) and, when the body uses it, the source of ``all_pages`` below; AppWorld then
runs those files (verify.py checks that they pass).

Real modules rather than strings so that linters, type checkers and tests read them as code.
Nothing here imports appworld or trirole: trirole's tests import these modules in trirole's venv.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from types import FunctionType

from ..source import function_body, parse_function


def all_pages(api, **kwargs):
    # collect every page of a paginated API.
    items = []
    page_index = 0
    while True:
        page = api(page_index=page_index, page_limit=20, **kwargs)
        if not page:
            return items
        items += page
        page_index += 1


def scenario_slugs() -> list[str]:
    """The slugs of the scenarios that have a solution module, sorted."""
    return sorted(module.name for module in pkgutil.iter_modules(__path__))


def solve_function(slug: str) -> FunctionType:
    """``solutions/<slug>.py``'s ``solve``."""
    return importlib.import_module(f"{__name__}.{slug}").solve


def body_source(function: FunctionType) -> str:
    """The source of a ``solve`` function's statements, comments included, dedented, without the
    final ``return answer`` (the task files add their own ending)."""
    source = inspect.getsource(function)
    last = parse_function(source).body[-1]
    if not (isinstance(last, ast.Return) and isinstance(last.value, ast.Name) and last.value.id == "answer"):
        raise ValueError(f"{function.__module__}.{function.__name__} must end with `return answer`")
    return function_body(source, drop_last=True)


def helper_source(function: FunctionType) -> str:
    """The source of a helper (``all_pages``) as the task files inline it."""
    return inspect.getsource(function).strip("\n")
