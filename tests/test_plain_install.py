"""trirole as a user gets it: the wheel, installed with plain pip into a fresh virtual
environment outside the checkout, then used from a folder of its own.

Marked ``wheel`` (select with ``-m wheel``). The venv is new for every session; pip's own
cache and a complete BFCL venv in ``TRIROLE_HOME`` are reused (the wheel's venv is what is
tested, not BFCL's, which tests/test_bfcl_env.py checks). What the extras add is in
docs/install.md; ``trirole eval`` without the ``[eval]`` extra refuses in one line before
any pair runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from scripted_openai import ScriptedOpenAIServer
from test_docs_snippets import ROOT, blocks, docs_responder

PIP_TIMEOUT_S = 900
RUN_TIMEOUT_S = 600
EVAL_EXTRA_HINT = "pip install 'trirole[eval]'"


def user_env(venv: Path, **extra: str) -> dict[str, str]:
    """A user's shell with the fresh venv activated: no checkout on any path."""
    path = [str(venv / "bin")] + [p for p in os.environ.get("PATH", "").split(os.pathsep)
                                  if p and not Path(p).resolve().is_relative_to(ROOT)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, "PATH": os.pathsep.join(path), "VIRTUAL_ENV": str(venv), "LANGSMITH_TRACING": "false",
            "PYTHONUNBUFFERED": "1", **extra}


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """trirole's wheel, built from a copy of the sources (a build writes build/ and
    *.egg-info next to them; the checkout stays as it is)."""
    work = tmp_path_factory.mktemp("wheel-build")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "trirole", source / "trirole", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                str(work / "dist"), str(source)], cwd=work, env=dict(os.environ), timeout=PIP_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    (found,) = (work / "dist").glob("trirole-*.whl")
    return found


@dataclass
class User:
    venv: Path  # fresh, holding `pip install trirole-*.whl` and nothing else
    work: Path  # the user's own folder, outside the checkout
    wheel: Path


@pytest.fixture(scope="module")
def user(tmp_path_factory, wheel) -> User:
    home = tmp_path_factory.mktemp("user")
    venv = home / "venv"
    done = run([sys.executable, "-m", "venv", str(venv)], cwd=home, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    done = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=home,
               env=user_env(venv), timeout=PIP_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    work = home / "work"
    work.mkdir()
    return User(venv, work, wheel)


def test_eval_without_the_eval_extra_refuses_in_one_line_before_running(monkeypatch, capsys, tmp_path):
    """The same refusal in-process (the wheel test below runs it for real)."""
    from trirole.cli import main

    monkeypatch.setitem(sys.modules, "statsmodels", None)  # as if not installed
    out = tmp_path / "out"
    assert main(["eval", "--model", "oracle", "--dataset", "dev", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("trirole eval: error: ") and EVAL_EXTRA_HINT in err
    assert not out.exists()


@pytest.mark.wheel
def test_the_installed_package_runs_outside_the_checkout(user):
    venv, work = user.venv, user.work
    env = user_env(venv)
    where = run(["python", "-c", "import trirole; print(trirole.__file__)"], cwd=work, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where  # the wheel's trirole, not the checkout's
    version = run(["trirole", "--version"], cwd=work, env=env)
    assert version.returncode == 0 and version.stdout.strip() == "trirole 0.1.0", version


@pytest.mark.wheel
def test_the_readme_python_example_runs_on_a_plain_install(user, tmp_path):
    venv, work = user.venv, user.work
    examples = [b for b in blocks("python") if b.path.name == "README.md"]
    assert examples, "README.md has a Python example"
    with ScriptedOpenAIServer(lambda m: "", model="smollm2-135m-instruct", request_responder=docs_responder) as server:
        env = user_env(venv, TRIROLE_BASE_URL=server.base_url, TRIROLE_MODEL=server.model,
                       TRIROLE_HOME=str(tmp_path / "home"))  # no local model server of this machine's to find
        for block in examples:
            script = work / f"readme_{block.line}.py"
            script.write_text(block.code, encoding="utf-8")
            done = run(["python", str(script)], cwd=work, env=env)
            assert done.returncode == 0, f"README.md:{block.line}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@pytest.mark.wheel
def test_an_oracle_evaluation_of_bfcl_entries_refuses_without_the_extra_and_reports_with_it(user):
    """BFCL's venv is built on first use (about 3 minutes) or reused from TRIROLE_HOME."""
    venv, work = user.venv, user.work
    env = user_env(venv)
    argv = ["trirole", "eval", "--model", "oracle", "--dataset", "bfcl:simple_python", "--limit", "3",
            "--paradigms", "base,scaffold", "--out", "runs/oracle"]
    refused = run(argv, cwd=work, env=env)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("trirole eval: error: ") and EVAL_EXTRA_HINT in refused.stderr
    assert not (work / "runs").exists()  # refused before anything ran

    extra = run(["python", "-m", "pip", "install", "-q", f"trirole[eval] @ {user.wheel.as_uri()}"], cwd=work,
                env=env, timeout=PIP_TIMEOUT_S)
    assert extra.returncode == 0, extra.stdout + extra.stderr

    done = run(argv, cwd=work, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "base: 3/3 solved; scaffold: 3/3 solved;" in done.stdout
    report = (work / "runs" / "oracle" / "report.md").read_text()
    assert "- **base**: 3/3 solved, TGC 100.0% [" in report and "- **scaffold**: 3/3 solved, TGC 100.0% [" in report
