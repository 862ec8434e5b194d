"""`trirole run` end to end on a scripted OpenAI-compatible server (a FAKE model endpoint)
and the real python sandbox."""

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
