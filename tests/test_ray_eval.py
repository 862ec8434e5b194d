"""`trirole eval --ray`: a REAL local Ray cluster with two worker slots, the REAL `trirole
eval` command and python sandbox, against a FAKE model (tests/scripted_openai.py).

Everything runs inside a private network and PID namespace made for the test (`unshare`):
Ray binds the machine's interface address otherwise, and every byte must stay on the
namespace's loopback; every process the test started dies with the namespace. The part
inside is this module run as a script (`drive`); it writes what it saw to facts.json and
the test asserts on that and on the results folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARADIGMS, LIMIT = ("base", "react"), 3

pytestmark = pytest.mark.skipif(
    shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0
    or not (Path(sys.executable).parent / "ray").exists(),
    reason="needs root, unshare and ip (a private network namespace) and Ray (pip install 'trirole[ray]')")


def test_a_ray_evaluation_survives_a_killed_worker_and_its_rerun_repeats_nothing(tmp_path):
    inside = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c", 'ip link set lo up && exec "$@"', "-",
         sys.executable, __file__, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert inside.returncode == 0, inside.stdout[-3000:] + inside.stderr[-3000:]
    facts = json.loads((tmp_path / "facts.json").read_text())

    first, second = facts["runs"]
    assert first["returncode"] == 0, first["stderr"][-3000:]
    assert facts["killed"] and "worker lost while running" in first["stderr"]  # killed mid-run
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    pairs = Counter((r["paradigm"], r["task_id"]) for r in records)
    assert len(pairs) == len(PARADIGMS) * LIMIT and set(pairs.values()) == {1}  # none lost, none twice
    assert all(r["status"] == "completed" for r in records), records
    for record in records:  # every trace came back from its worker to the driver's folder
        trace = [json.loads(line) for line in (tmp_path / "out" / record["trace"]).read_text().splitlines()]
        assert [t["type"] for t in trace].count("final") == 1

    assert second["returncode"] == 0, second["stderr"][-3000:]
    assert f"{len(pairs)} already done; running 0" in second["stderr"]
    assert facts["requests_after_second"] == facts["requests_after_first"]  # the rerun called no model
    assert (tmp_path / "out" / "report.md").is_file()


def drive(tmp: Path) -> None:
    """Inside the namespace: a Ray cluster, the scripted model, `trirole eval --ray` twice
    with one worker process killed while the third model request is held."""
    import psutil
    from ray_cluster import local_ray_cluster
    from scripted_openai import ScriptedOpenAIServer

    held, release = threading.Event(), threading.Event()
    count = Counter()

    def responder(messages):
        count["requests"] += 1
        if count["requests"] == 3:
            held.set()
            release.wait(300)
        return "Done.\n```python\ncomplete_task(0)\n```"

    facts: dict = {"runs": [], "killed": None}
    with local_ray_cluster(num_cpus=2) as address, ScriptedOpenAIServer(responder) as server:
        command = [sys.executable, "-m", "trirole.cli", "eval", "--paradigms", ",".join(PARADIGMS), "--dataset",
                   "python", "--limit", str(LIMIT), "--out", str(tmp / "out"), "--base-url", server.base_url,
                   "--model", "scripted-model", "--concurrency", "2", "--task-timeout", "120", "--ray", address]
        first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if held.wait(600):
                workers = [p for p in psutil.process_iter(["cmdline"])
                           if (p.info["cmdline"] or [""])[0].startswith("ray::PairWorker")]
                if workers:
                    workers[0].kill()
                    facts["killed"] = workers[0].pid
                time.sleep(1)
            release.set()
            out, err = first.communicate(timeout=600)
        finally:
            release.set()
            if first.poll() is None:
                first.kill()
        facts["runs"].append({"returncode": first.returncode, "stderr": err})
        facts["requests_after_first"] = len(server.requests)
        second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        facts["runs"].append({"returncode": second.returncode, "stderr": second.stderr})
        facts["requests_after_second"] = len(server.requests)
    (tmp / "facts.json").write_text(json.dumps(facts))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    drive(Path(sys.argv[1]))
