"""The command line: `trirole run` end to end on a scripted OpenAI-compatible server (a FAKE
model endpoint) and the real python sandbox; the error format and exit codes of every command;
the progress display of `trirole eval` in a real pseudo-terminal and without one."""

import os
import pty
import subprocess
import sys
from importlib.metadata import version

import pytest
from fakes import code
from scripted_openai import ScriptedOpenAIServer

from trirole.cli import main
from trirole.trace import read_trace


def test_run_prints_the_transcript_and_the_final_status(tmp_path, capsys):
    trace = tmp_path / "run.jsonl"
    with ScriptedOpenAIServer(lambda m: code("print(17 * 23)\ncomplete_task(17 * 23)"), model="m") as server:
        rc = main(["run", "--env", "python", "--instruction", "Compute 17 * 23.", "--base-url", server.base_url,
                   "--model", "m", "--trace", str(trace)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "step 1 · agent" in out and "391" in out and "status: completed" in out and "answer: 391" in out
    records = read_trace(trace)
    assert [r["type"] for r in records] == ["model_call", "execution", "final"]
    assert records[0]["role"] == "agent" and records[-1]["answer"] == 391


def test_run_on_a_bundled_task_reports_the_checker_verdict(capsys):
    with ScriptedOpenAIServer(lambda m: code("complete_task(0)"), model="m") as server:
        rc = main(["run", "--env", "python", "--task", "sum-prices", "--base-url", server.base_url, "--model", "m",
                   "--max-steps", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "evaluation: FAIL" in out  # completed, with a wrong answer


# -- one error format, exit codes 0 / 1 / 2 ----------------------------------------------------
BAD_INPUTS = [
    # (argv, exit code, what the one line must say)
    ([], 2, "choose a command: run, eval, model, env"),
    (["model"], 2, "choose a command: serve, status, stop"),
    (["env"], 2, "choose a command: install, serve, status, stop, tasks"),
    (["nope"], 2, "invalid choice: 'nope'"),
    (["run", "--instruction", "x", "--max-steps", "0"], 2, "--max-steps must be >= 1 (got 0)"),
    (["run", "--instruction", "x", "--max-steps", "three"], 2, "invalid int value: 'three'"),
    (["run", "--instruction", "x", "--max-context-tokens", "100"], 2,
     "--max-context-tokens (100) must leave at least 256 prompt tokens after --max-completion-tokens (512)"),
    (["run", "--instruction", "x", "--correction-policy", "sometimes"], 2, "invalid choice: 'sometimes'"),
    (["run", "--instruction", "x", "--repetition-similarity", "1.5"], 2, "--repetition-similarity must be in (0, 1]"),
    (["run"], 2, "give --instruction TEXT or --task ID"),
    (["run", "--env", "appworld"], 2, "--env appworld needs --task ID"),
    (["eval", "--dataset", "python"], 2, "the following arguments are required: --out"),
    (["eval", "--dataset", "python", "--out", "x", "--concurrency", "0"], 2, "must be >= 1 (got 0)"),
    (["eval", "--dataset", "python", "--out", "x", "--paradigms", "nope"], 2, "unknown paradigm(s) nope"),
    (["eval", "--dataset", "no-such-split", "--out", "x"], 2, "unknown dataset 'no-such-split'"),
    (["env", "serve", "nowhere"], 2, "invalid choice: 'nowhere'"),
    (["model", "serve", "--port", "-1"], 2, "must be >= 1 (got -1)"),
]


@pytest.mark.parametrize("argv,exit_code,says", BAD_INPUTS, ids=[" ".join(a) or "(none)" for a, _, _ in BAD_INPUTS])
def test_bad_input_is_one_line_naming_the_problem(argv, exit_code, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # --out x lands here
    monkeypatch.setenv("TRIROLE_HOME", str(tmp_path / "home"))  # no local model server to find
    assert main(argv) == exit_code
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("trirole") and ": error: " in captured.err, captured.err
    assert says in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out
    if argv and argv[0] in ("run", "eval"):
        assert captured.err.startswith(f"trirole {argv[0]}: error: ")


def test_an_unreachable_endpoint_is_a_failure_not_a_usage_error(capsys):
    rc = main(["run", "--instruction", "x", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("trirole run: error: cannot reach the model endpoint") and err.count("\n") == 1


def test_a_run_that_does_not_complete_exits_1(capsys):
    with ScriptedOpenAIServer(lambda m: code("print('thinking')"), model="m") as server:
        rc = main(["run", "--env", "python", "--instruction", "Loop.", "--base-url", server.base_url,
                   "--model", "m", "--max-steps", "1"])
    assert rc == 1 and "status: step_budget" in capsys.readouterr().out


def test_a_prompt_over_the_servers_context_names_the_flag_on_the_command_line(capsys):
    with ScriptedOpenAIServer(lambda m: code("complete_task(1)"), model="m", max_model_len=100) as server:
        rc = main(["run", "--env", "python", "--instruction", "Compute 17 * 23 " * 30, "--base-url", server.base_url,
                   "--model", "m", "--max-context-tokens", "12288", "--max-retries", "0"])
    out = capsys.readouterr().out
    assert rc == 1 and "status: context_overflow" in out
    assert "set `--max-context-tokens` to at most 100" in out and "the setting `" not in out


def test_a_wrong_model_name_is_told_as_the_flag_on_the_command_line(capsys):
    with ScriptedOpenAIServer(lambda m: "hi", model="served-one") as server:
        rc = main(["run", "--instruction", "x", "--base-url", server.base_url, "--model", "typo"])
    err = capsys.readouterr().err
    assert rc == 1 and "Set `--model` to served-one" in err and "the setting `" not in err


def test_env_status_without_a_name_means_appworld(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRIROLE_HOME", str(tmp_path / "home"))  # no server recorded here
    assert main(["env", "status"]) == 1  # exit 1: not running (not a usage error, 2)
    assert "AppWorld environment server: not running" in capsys.readouterr().out


def test_version_and_help_exit_0(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"trirole {version('trirole')}"
    assert main(["eval", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--max-steps", "--base-url", "--correction-policy", "--no-summarizer", "--step-timeout"):
        assert flag in out


def test_every_setting_marked_for_the_command_line_is_an_option_and_reaches_the_settings():
    from trirole.cli import _FLAGS, build_parser, settings_from_args

    argv = ["run", "--instruction", "x", "--base-url", "http://h:1/v1", "--model", "m", "--max-steps", "7",
            "--no-summarizer", "--correction-policy", "never", "--step-timeout", "2.5", "--thinking"]
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    assert (settings.base_url, settings.model, settings.max_steps, settings.use_summarizer,
            settings.correction_policy, settings.step_timeout_s, settings.enable_thinking) == \
        ("http://h:1/v1", "m", 7, False, "never", 2.5, True)
    assert {"max_steps", "use_corrector", "memory_limit_mb", "temperature"} <= set(_FLAGS)


# -- the progress display of trirole eval ---------------------------------------------------------
def _eval_argv(server, out) -> list[str]:
    return [sys.executable, "-m", "trirole.cli", "eval", "--paradigms", "react,base", "--dataset", "python",
            "--limit", "2", "--out", str(out), "--base-url", server.base_url, "--model", "m", "--max-steps", "1",
            "--concurrency", "2"]


def test_eval_progress_without_a_terminal_is_plain_lines(tmp_path):
    with ScriptedOpenAIServer(lambda m: code("print(1)"), model="m") as server:
        proc = subprocess.run(_eval_argv(server, tmp_path / "out"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 4 and lines[-1].startswith("[4/4] ")
    assert all("| solved react " in line and " · base " in line and "| elapsed " in line for line in lines)
    assert "left" in lines[0] and "\x1b[" not in proc.stderr  # no terminal codes in a log


def test_eval_progress_in_a_terminal_is_a_live_bar(tmp_path):
    master, slave = pty.openpty()
    with ScriptedOpenAIServer(lambda m: code("print(1)"), model="m") as server:
        proc = subprocess.Popen(_eval_argv(server, tmp_path / "out"), stdin=subprocess.DEVNULL, stdout=slave,
                                stderr=slave, env={**os.environ, "COLUMNS": "160", "TERM": "xterm"})
        os.close(slave)
        screen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        assert proc.wait(timeout=300) == 0
    os.close(master)
    text = screen.decode(errors="replace")
    assert "\x1b[" in text  # redrawn in place
    assert "4/4" in text and "elapsed" in text and "left" in text
    assert "react 0/2 · base 0/2" in text  # solved so far per paradigm (the scripted model solves nothing)
