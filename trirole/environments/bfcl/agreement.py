"""BFCL's own evaluation of answers, the way a BFCL user runs it: result files in BFCL's
layout, then BFCL's evaluation runner (``bfcl_eval.eval_checker.eval_runner``, what
``bfcl evaluate`` runs) in BFCL's venv, then its score files read back.

Used to check that trirole's verdicts (`BfclEnvironment.evaluate`, one entry at a time
through ``_scorer_main``) equal BFCL's own on the same answers (tests/test_bfcl_agreement.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping

from trirole.environments.bfcl import data
from trirole.environments.bfcl._scorer_main import SCORING_MODEL
from trirole.environments.bfcl.errors import BfclError
from trirole.environments.bfcl.install import bfcl_python, ensure_bfcl_env



def _group(category: str) -> str:
    """BFCL's result folder of a category (``get_directory_structure_by_category``)."""
    if data.is_multi_turn(category):
        return "multi_turn"
    return "live" if category.startswith("live_") else "non_live"


def bfcl_own_verdicts(answers: Mapping[str, Any], *, timeout_s: float = 600) -> dict[str, bool]:
    """Entry id -> valid, by BFCL's own runner, for `answers` (entry id -> the model
    result in BFCL's form: single-turn a reply string, multi-turn per turn per step)."""
    ensure_bfcl_env()
    model_dir = SCORING_MODEL.replace("/", "_")
    by_category: dict[str, list[dict[str, Any]]] = {}
    for entry_id, result in answers.items():
        by_category.setdefault(data.category_of(entry_id), []).append({"id": entry_id, "result": result})
    with tempfile.TemporaryDirectory(prefix="trirole-bfcl-own-") as root:
        for category, lines in by_category.items():
            folder = Path(root) / "result" / model_dir / _group(category)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{data.VERSION}_{category}_result.json").write_text(
                "".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": root, "BFCL_PROJECT_ROOT": root,
               "LANG": os.environ.get("LANG", "C.UTF-8"), "TQDM_DISABLE": "1"}
        done = subprocess.run([str(bfcl_python()), "-m", "bfcl_eval.eval_checker.eval_runner", "--model", SCORING_MODEL,
                               "--test-category", *by_category, "--partial-eval"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise BfclError(f"BFCL's evaluation runner failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
        verdicts: dict[str, bool] = {}
        for category, lines in by_category.items():
            score = Path(root) / "score" / model_dir / _group(category) / f"{data.VERSION}_{category}_score.json"
            if not score.is_file():
                raise BfclError(f"BFCL's runner wrote no score file for {category}: {done.stdout[-1500:]}")
            rows = [json.loads(line) for line in score.read_text(encoding="utf-8").splitlines() if line.strip()]
            invalid = {row["id"] for row in rows[1:] if row.get("valid") is False}
            if len(lines) - len(invalid) != rows[0]["correct_count"]:
                raise BfclError(f"BFCL's score file for {category} does not add up: {rows[0]}")
            verdicts.update({line["id"]: line["id"] not in invalid for line in lines})
    return verdicts


def run_verdicts(out_dir: str | Path) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], bool]]:
    """The answers (BFCL's result form) and trirole's verdicts of an evaluation's BFCL
    pairs, by (paradigm, entry id), read from its traces' final events."""
    out = Path(out_dir)
    answers: dict[tuple[str, str], Any] = {}
    verdicts: dict[tuple[str, str], bool] = {}
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("env") != "bfcl" or not record.get("trace"):
            continue
        key = (record["paradigm"], record["task_id"])
        for event in (out / record["trace"]).read_text(encoding="utf-8").splitlines():
            final = json.loads(event)
            evaluation = final.get("evaluation") if final.get("type") == "final" else None
            if evaluation and "model_result" in (evaluation.get("details") or {}):
                answers[key] = evaluation["details"]["model_result"]
                verdicts[key] = bool(evaluation["success"])
    return answers, verdicts


def main(argv: list[str] | None = None) -> int:
    """``python -m trirole.environments.bfcl.agreement OUT [OUT ...]``: BFCL's own runner on the
    answers of finished evaluations, each paradigm's apart; exit 1 when a verdict differs
    from trirole's."""
    import sys

    answers: dict[tuple[str, str], Any] = {}
    ours: dict[tuple[str, str], bool] = {}
    for out in (argv if argv is not None else sys.argv[1:]):
        found, verdicts = run_verdicts(out)
        answers.update(found)
        ours.update(verdicts)
    own: dict[tuple[str, str], bool] = {}
    for paradigm in dict.fromkeys(p for p, _ in answers):
        verdicts = bfcl_own_verdicts({task: answer for (p, task), answer in answers.items() if p == paradigm})
        own.update({(paradigm, task): valid for task, valid in verdicts.items()})
    differ = sorted(key for key in ours if own.get(key) != ours[key])
    print(f"{len(ours)} pairs: {sum(ours.values())} valid by trirole, {sum(own.values())} by BFCL's own runner; "
          f"{len(differ)} differ" + (f": {', '.join(f'{p}/{t}' for p, t in differ[:20])}" if differ else ""))
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
