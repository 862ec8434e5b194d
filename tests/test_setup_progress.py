"""Long set-ups talk (trirole.serving.setup_progress): in a terminal a live line per stage
(stage k of n, elapsed, pip's packages collected, the last line of the stage's log), when
not on a terminal one plain line per stage; real subprocesses writing real log files."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from trirole.serving.setup_progress import SetupProgress
from trirole.serving.venvs import VenvInstallError, ensure_venv

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# A stand-in for `pip install`: what pip writes to a log, at pip's pace (each line stays a while).
# From an index "Collecting", from a local wheel "Processing"; a name may come back with extras.
FAKE_PIP = ("import time\n"
            "for line in ['Collecting anyio==4.16.0', '  Using cached anyio-4.16.0.whl',\n"
            "             'Processing /opt/wheels/typing_extensions-4.16.0-py3-none-any.whl (from anyio==4.16.0)',\n"
            "             'Collecting anyio[trio]<5 (from x==1)', 'Collecting idna==3.20',\n"
            "             'Installing collected packages: idna, typing-extensions, anyio']:\n"
            "    print(line, flush=True)\n"
            "    time.sleep(0.7)\n")


def screen(stream: io.StringIO) -> list[str]:
    """What a terminal showed, frame by frame: the text of every line drawn."""
    text = _ANSI.sub("", stream.getvalue())
    return [line.strip() for line in re.split(r"[\r\n]", text) if line.strip()]


def run_logged(code: str, log_path) -> int:
    with open(log_path, "a") as log:
        return subprocess.run([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT).returncode


def test_in_a_terminal_the_live_line_shows_the_stage_its_packages_and_what_it_does_now(tmp_path):
    log_path, stream = tmp_path / "install.log", io.StringIO()
    log_path.write_text("=== an earlier install\nCollecting old==1.0\n")  # not this stage's
    with SetupProgress("demo-env", "installing demo-env (about a minute)", 2, stream=stream, terminal=True) as shown:
        with shown.stage("create the virtual environment"):
            pass
        with shown.stage("pip install 3 pinned requirements", log_path=log_path, total=3):
            assert run_logged(FAKE_PIP, log_path) == 0
    lines = screen(stream)
    assert lines[0] == "trirole: installing demo-env (about a minute)"
    assert "trirole: demo-env: [1/2] create the virtual environment: done in 0 s" in lines
    # The stage's line (stage, packages collected of the lock's, elapsed), under it its log's last line.
    live = [line for line in lines if "[2/2] pip install" in line and "done in" not in line]
    assert any(re.search(r" 1/3 packages 0:00:0\d$", line) for line in live), live
    assert any(re.search(r" 2/3 packages 0:00:0\d$", line) for line in live), live
    assert any(re.search(r" 3/3 packages 0:00:0\d$", line) for line in live), live
    assert {"Collecting anyio==4.16.0", "Collecting idna==3.20",
            "Installing collected packages: idna, typing-extensions, anyio"} <= set(lines)
    assert not any("old==1.0" in line or "4/3" in line for line in lines)  # earlier log lines are not this stage's
    done = [line for line in lines if line.startswith("trirole: demo-env: [2/2]")]
    assert done and re.fullmatch(r"trirole: demo-env: \[2/2\] pip install 3 pinned requirements: done in \d s", done[0])
    assert re.fullmatch(r"trirole: demo-env ready in \d s", lines[-1])


def test_not_on_a_terminal_each_stage_is_one_plain_line(tmp_path):
    log_path, stream = tmp_path / "install.log", io.StringIO()
    with SetupProgress("demo-env", "installing demo-env", 2, stream=stream) as shown:  # a StringIO is no terminal
        with shown.stage("create the virtual environment", log_path=log_path):
            pass
        with shown.stage("pip install 2 pinned requirements", log_path=log_path, total=2):
            assert run_logged(FAKE_PIP, log_path) == 0
    assert "\x1b" not in stream.getvalue()  # no terminal codes in a log file
    lines = stream.getvalue().splitlines()
    assert lines[:3] == ["trirole: installing demo-env", "trirole: demo-env: [1/2] create the virtual environment",
                         "trirole: demo-env: [2/2] pip install 2 pinned requirements"]
    assert len(lines) == 4 and re.fullmatch(r"trirole: demo-env ready in \d s", lines[3])


@pytest.mark.parametrize("terminal", [True, False])
def test_a_failed_stage_says_so_and_the_set_up_is_not_called_ready(terminal):
    stream = io.StringIO()
    with pytest.raises(RuntimeError, match="pip failed"):
        with SetupProgress("demo-env", "installing demo-env", 2, stream=stream, terminal=terminal) as shown:
            with shown.stage("pip install x"):
                raise RuntimeError("pip failed")
    lines = screen(stream)
    assert "trirole: demo-env: [1/2] pip install x: failed after 0 s" in lines
    assert not any("ready" in line for line in lines)


def test_a_single_step_without_title_is_only_its_stage_line():
    stream = io.StringIO()
    with SetupProgress("model", None, 1, stream=stream) as shown, shown.stage("starting it"):
        pass
    assert stream.getvalue() == "trirole: model: starting it\n"


def test_disabled_shows_nothing():
    stream = io.StringIO()
    with SetupProgress("model", "installing", 1, stream=stream, enabled=False) as shown, shown.stage("x"):
        pass
    assert stream.getvalue() == ""


def test_ensure_venv_shows_each_step_and_an_exact_venv_is_rebuilt_afresh(tmp_path, monkeypatch, capsys):
    """Every heavy environment goes through ensure_venv, so each gets its steps shown; with
    exact=True a venv built for other requirements is replaced, not updated in place."""
    monkeypatch.setenv("TRIROLE_HOME", str(tmp_path / "home"))
    mark = ["{python}", "-c", "# leave a mark\nimport pathlib; (pathlib.Path('{bin}').parent / 'mark').touch()"]
    venv = ensure_venv("tiny", [], post_install=[mark], exact=True, title="installing tiny (a test)")
    lines = capsys.readouterr().err.splitlines()
    assert lines[:3] == ["trirole: installing tiny (a test)", "trirole: tiny: [1/2] create the virtual environment",
                         "trirole: tiny: [2/2] leave a mark"]
    assert re.fullmatch(r"trirole: tiny ready in \d+ s", lines[3]) and len(lines) == 4
    assert (venv / "mark").exists()

    assert ensure_venv("tiny", [], post_install=[mark], exact=True) == venv  # the stamp matches: nothing to show
    assert capsys.readouterr().err == ""

    other = [["{python}", "-c", "# do something else\npass"]]
    ensure_venv("tiny", [], post_install=other, exact=True, progress=False)
    assert capsys.readouterr().err == ""
    assert not (venv / "mark").exists() and (venv / "bin" / "python").exists()  # a new venv, not the old one updated

    with pytest.raises(VenvInstallError, match="post-install 1"):  # into the venv there (not exact): one step
        ensure_venv("tiny", [], post_install=[["{python}", "-c", "raise SystemExit(3)"]])
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == ["trirole: installing tiny into " + str(venv), "trirole: tiny: python -c 'raise SystemExit(3) ...'"]
    assert len(err) == 3 and re.fullmatch(r"trirole: tiny: python -c 'raise SystemExit\(3\) \.\.\.': failed after \d+ s", err[2])
