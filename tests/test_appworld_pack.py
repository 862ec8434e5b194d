"""trirole's offline AppWorld task pack (trirole/environments/appworld/pack): generated with AppWorld's
own engine in its venv, deterministic, AppWorld-format, and verified by AppWorld's evaluator.

Marked ``appworld``: needs AppWorld's venv (installed on first use, ~1 min, PyPI). The full pack
is built once into trirole_home() (about 20 s) and reused; verification takes 1-2 minutes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import socket
import subprocess
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from trirole.environments.appworld.pack import PACK_DIR, STAMP_NAME, ensure_pack, run_generator, run_verifier
from trirole_pack.evaluations import evaluation
from trirole_pack.solutions import (
    all_pages,
    body_source,
    helper_source,
    scenario_slugs,
    solve_function,
)

pytestmark = pytest.mark.appworld

APPS_WITH_DBS = ["admin", "api_docs", "supervisor", "amazon", "phone", "file_system", "spotify", "venmo",
                 "gmail", "splitwise", "simple_note", "todoist"]
GROUND_TRUTH_FILES = ["metadata.json", "public_data.json", "private_data.json", "answer.json",
                      "solution.py", "compiled_solution.py", "evaluation.py", "test_data.json",
                      "required_apps.json"]


@pytest.fixture(scope="session")
def appworld_python() -> Path:
    from trirole.environments.appworld import AppWorldNotInstalled, ensure_appworld_env

    try:
        venv = ensure_appworld_env()
    except AppWorldNotInstalled as exc:
        pytest.skip(f"AppWorld is not installed: {exc}")
    return Path(venv) / "bin" / "python"


@pytest.fixture(scope="session")
def pack_root(appworld_python) -> Path:
    return ensure_pack(seed=0)


def _manifest(root: Path) -> dict:
    return json.loads((root / "data" / "pack_manifest.json").read_text())


def _task_ids(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "data" / "tasks").iterdir() if (p / "specs.json").is_file())


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every generated text and database file, by path relative to data/."""
    data = root / "data"
    return {
        str(path.relative_to(data)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(data.rglob("*"))
        if path.is_file()
    }


def test_generation_is_deterministic(tmp_path, appworld_python):
    first, second = tmp_path / "first", tmp_path / "second"
    run_generator(first, seed=0, limit=4, python=appworld_python)
    run_generator(second, seed=0, limit=4, python=appworld_python)
    digest_first, digest_second = _digest(first), _digest(second)
    assert len(_task_ids(first)) == 12  # 4 scenarios x 3 variants
    spec_and_truth = [k for k in digest_first if k.endswith("specs.json") or "/ground_truth/" in k]
    assert len(spec_and_truth) == 12 * (1 + len(GROUND_TRUTH_FILES))
    assert digest_first == digest_second  # specs, ground truth, task dbs, base dbs, api docs


def test_pack_is_appworld_format(pack_root):
    data = pack_root / "data"
    for app in APPS_WITH_DBS:
        assert (data / "base_dbs" / f"{app}.db").stat().st_size > 0
        if app != "admin":
            docs = json.loads((data / "api_docs" / "standard" / f"{app}.json").read_text())
            assert docs and all("canary_string" in doc for doc in docs.values())
    for task_id in _task_ids(pack_root):
        task = data / "tasks" / task_id
        specs = json.loads((task / "specs.json").read_text())
        assert specs["instruction"] and specs["db_version"] and specs["datetime"]
        assert set(specs["supervisor"]) == {"first_name", "last_name", "email", "phone_number"}
        for app in APPS_WITH_DBS:  # "changes" format over data/base_dbs
            assert (task / "dbs" / f"{app}.jsonl").is_file()
        assert "INSERT INTO tasks" in (task / "dbs" / "supervisor.jsonl").read_text()
        for name in GROUND_TRUTH_FILES:
            assert (task / "ground_truth" / name).is_file(), (task_id, name)
        metadata = json.loads((task / "ground_truth" / "metadata.json").read_text())
        assert metadata["difficulty"] in (1, 2, 3)
        solution = (task / "ground_truth" / "solution.py").read_text()
        assert "def solution(\n    main_user: MainUserMunch, apis: ApiCollection, requester: Requester, public_data: Munch" in solution
        assert "apis.supervisor.complete_task(" in solution
        evaluation = (task / "ground_truth" / "evaluation.py").read_text()
        assert "def evaluate(" in evaluation and "with test(" in evaluation
        test_data = json.loads((task / "ground_truth" / "test_data.json").read_text())
        assert test_data and {d["label"] for d in test_data} <= {"no_op_fail", "no_op_pass"}


def test_splits_cover_every_task_once_with_whole_scenarios(pack_root):
    datasets = pack_root / "data" / "datasets"
    splits = {name: [line.strip() for line in (datasets / f"{name}.txt").read_text().splitlines() if line.strip()]
              for name in ("train", "dev", "test")}
    listed = [task_id for ids in splits.values() for task_id in ids]
    assert sorted(listed) == _task_ids(pack_root)  # every task exactly once
    scenario_split = {}
    for name, ids in splits.items():
        for task_id in ids:
            scenario = task_id.split("_")[0]
            assert scenario_split.setdefault(scenario, name) == name, f"scenario {scenario} is split"
    assert splits["dev"] and splits["test"]


def test_pack_covers_apps_difficulties_and_kinds(pack_root):
    manifest = _manifest(pack_root)
    tasks = manifest["tasks"]
    assert len(tasks) >= 40
    apps = {app for info in tasks.values() for app in info["apps"]}
    assert len(apps) >= 6, apps
    assert {info["difficulty"] for info in tasks.values()} == {1, 2, 3}
    assert {info["kind"] for info in tasks.values()} == {"question", "action"}
    assert any(len(info["apps"]) >= 2 for info in tasks.values())  # multi-app tasks
    assert all(info["collateral_requirements"] for info in tasks.values())
    per_scenario = defaultdict(list)
    for task_id in tasks:
        per_scenario[task_id.split("_")[0]].append(int(task_id.split("_")[1]))
    assert all(sorted(numbers) == list(range(1, len(numbers) + 1)) and len(numbers) >= 3
               for numbers in per_scenario.values())
    # the required apps in the ground truth agree with the manifest
    for task_id, info in tasks.items():
        required = json.loads((pack_root / "data" / "tasks" / task_id / "ground_truth" / "required_apps.json").read_text())
        assert required == info["apps"]


def test_solution_and_evaluation_modules_are_what_lands_in_the_task_files(pack_root):
    """Each scenario's solutions/<slug>.py solve() and evaluations/<slug>.py checks() are the ground
    truth of its tasks: their statements are the bodies of every variant's solution.py and
    compiled_solution.py (after the logins that define the access tokens) and evaluation.py, and
    test_data.json and the manifest's collateral guards come from OUTCOMES. So the code the tests
    and linters read is the code AppWorld runs."""
    manifest = _manifest(pack_root)
    assert sorted(info["slug"] for info in manifest["scenarios"].values()) == scenario_slugs()
    for task_id, info in manifest["tasks"].items():
        solve = solve_function(info["scenario"])
        tokens = [name for name in inspect.signature(solve).parameters if name.endswith("_access_token")]
        assert set(tokens) <= {f"{app}_access_token" for app in info["apps"]}, task_id
        truth = pack_root / "data" / "tasks" / task_id / "ground_truth"
        statements = body_source(solve)
        for name in ("solution.py", "compiled_solution.py"):
            code = (truth / name).read_text()
            assert textwrap.indent(statements, "    ") in code, (task_id, name)
            assert (textwrap.indent(helper_source(all_pages), "    ") in code) == ("all_pages(" in statements)
            for token in tokens:
                assert f"    {token} = apis." in code, (task_id, name, token)
        checks = evaluation(info["scenario"])
        assert (truth / "evaluation.py").read_text().endswith(textwrap.indent(checks.body, "    ") + "\n"), task_id
        test_data = json.loads((truth / "test_data.json").read_text())
        assert test_data == [{"requirement": c.requirement, "label": c.label} for c in checks.checks], task_id
        assert info["collateral_requirements"] == [c.requirement for c in checks.checks if c.collateral]


def test_no_generated_files_in_the_source_tree():
    generated = [p for p in PACK_DIR.rglob("*") if p.suffix in (".db", ".jsonl", ".sqlite")]
    assert not generated, generated


def test_ensure_pack_is_cached(pack_root):
    stamp = pack_root / STAMP_NAME
    before = stamp.stat().st_mtime_ns
    started = time.perf_counter()
    assert ensure_pack(seed=0) == pack_root
    assert time.perf_counter() - started < 5
    assert stamp.stat().st_mtime_ns == before


def test_verify_ground_truth_passes_noop_and_collateral_fail(pack_root, appworld_python):
    """verify.py runs every task in AppWorld in-process: ground truth (solution.py in-process and
    compiled_solution.py through world.execute) passes, a do-nothing solution fails (and every
    check's test_data label matches a real no-op run), collateral damage fails a guard check."""
    result = run_verifier(pack_root, python=appworld_python)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert f"OK: {len(_task_ids(pack_root))} tasks verified" in output
    table = [line for line in output.splitlines() if line.count(" | ") == 7 and not line.startswith("task_id")]
    rows = [line.split(" | ") for line in table if not line.startswith("---")]
    assert len(rows) == len(_task_ids(pack_root))
    for row in rows:
        assert row[4:] == ["pass", "pass", "fail", "fail"], row


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_pack_runs_on_the_appworld_http_server(pack_root, appworld_python, tmp_path):
    """The pack served by AppWorld's own environment server (what trirole talks to)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["APPWORLD_ROOT"] = str(pack_root)
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [str(appworld_python), "-m", "uvicorn", "appworld.serve.environment:app", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        cwd=pack_root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.time() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.5)

        def post(path: str, **body):
            response = httpx.post(url + path, json=body, timeout=120)
            assert response.status_code == 200, response.text
            return response.json()["output"]

        manifest = _manifest(pack_root)
        by_difficulty = {}
        for task_id, info in sorted(manifest["tasks"].items()):
            by_difficulty.setdefault(info["difficulty"], task_id)
        for task_id in by_difficulty.values():
            truth = pack_root / "data" / "tasks" / task_id / "ground_truth" / "compiled_solution.py"
            code = "\n".join(line for line in truth.read_text().splitlines() if not line.startswith("# Canary"))
            for mode, code_to_run in (("gt", code + "\n\nsolution(apis, requester)"),
                                      ("noop", "apis.supervisor.complete_task()")):
                started = post("/initialize", task_id=task_id, experiment_name="trirole_pack_http_test")
                assert started["instruction"] == manifest["tasks"][task_id]["instruction"]
                output = post("/execute", task_id=task_id, code=code_to_run)
                assert "Execution failed" not in output, output
                assert post("/task_completed", task_id=task_id) is True
                evaluation = post("/evaluate", task_id=task_id, suppress_errors=True)
                assert evaluation["success"] is (mode == "gt"), (task_id, mode, evaluation["failures"])
                post("/close", task_id=task_id)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
