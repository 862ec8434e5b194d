"""The layer contract (pyproject.toml, ``[tool.importlinter]``): imports point one way,
from the command line down to settings and state, and no modules import each other.

Checked with the real import-linter over the real package; the contract's teeth are
checked too, on a copy of the package with one bad import planted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with `project`'s pyproject.toml, importing trirole from `project`."""
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())", str(project / "pyproject.toml"),
                           "--no-cache"],
                          cwd=project, env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers_and_has_no_cycles():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package's Python files and the contract, in a folder of their own."""
    shutil.copytree(ROOT / "trirole", tmp_path / "trirole",
                    ignore=lambda folder, names: [n for n in names if not (n.endswith(".py") or
                                                                           (Path(folder) / n).is_dir())])
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint_imports(tmp_path).returncode == 0  # the copy is as clean as the package
    return tmp_path


def plant(module: Path, line: str) -> None:
    module.write_text(module.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")


def test_an_upward_import_breaks_the_contract(copy: Path):
    plant(copy / "trirole" / "settings.py", "from trirole.cli import main  # planted: the bottom imports the top")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "trirole.settings -> trirole.cli" in result.stdout


def test_a_cycle_hidden_in_a_function_breaks_the_contract(copy: Path):
    # The executors are siblings: the Ray runner taking names from the local one is an error.
    plant(copy / "trirole" / "evals" / "ray_runner.py",
          "def _planted():\n    from trirole.evals.local import run_local  # planted\n    return run_local")
    plant(copy / "trirole" / "environments" / "appworld" / "errors.py",
          "def _planted():\n    from trirole.environments.appworld.install import appworld_bin  # planted\n    return appworld_bin")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "trirole.evals.ray_runner -> trirole.evals.local" in result.stdout
    assert "No cycles are allowed in trirole.environments.appworld" in result.stdout


def test_the_pack_generator_has_one_import_name():
    """The offline pack's generator runs in AppWorld's venv as the top-level package
    ``trirole_pack``; nothing imports it under its path in trirole (setuptools ships it as
    data, not as a subpackage)."""
    import ast

    long_name = "trirole.environments.appworld.pack.trirole_pack"
    found = []
    for folder in ("trirole", "tests", "benchmarks", "scripts", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith(long_name)]
    assert found == []
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'exclude = ["{long_name}*"]' in pyproject


def test_the_old_environment_error_name_is_a_deprecated_alias():
    import trirole.environments
    import trirole.environments.base
    from trirole.environments import EnvironmentFailure

    for module in (trirole.environments, trirole.environments.base):
        with pytest.warns(DeprecationWarning, match="EnvironmentFailure"):
            assert module.EnvironmentError_ is EnvironmentFailure
    with pytest.raises(AttributeError):
        trirole.environments.NoSuchName  # noqa: B018


def test_the_old_package_name_trirole_tools_is_a_deprecated_alias_of_the_same_modules():
    """Code written against 0.1 (``trirole.tools...``) keeps working for one release, with a
    warning, and gets the very module objects of trirole.environments (one sandbox class, one
    error class), so isinstance checks and ``except`` clauses agree across the two names."""
    import subprocess
    import sys

    probe = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
             "try:\n    import trirole.tools\nexcept DeprecationWarning as w:\n    print('warned:', w)\n"
             "warnings.simplefilter('ignore')\n"
             "import trirole.tools.python_sandbox as old, trirole.environments.python_sandbox as new\n"
             "from trirole.tools.appworld.errors import AppWorldError\n"
             "from trirole.environments.appworld.errors import AppWorldError as E2\n"
             "print(old is new, AppWorldError is E2)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "warned: trirole.tools is deprecated: import trirole.environments" in out
    assert out.strip().endswith("True True")
