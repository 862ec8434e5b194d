"""Do trirole's TGC and SGC equal what AppWorld's own evaluation gives for the same run?

`check_agreement(out_dir)` takes a finished AppWorld evaluation folder, and for each
(paradigm, repeat) runs AppWorld's evaluator (in its own venv, on the outputs the server
saved under that run's experiment name; see `trirole.environments.appworld.agreement`) over the
tasks trirole scored, then compares: the per-task verdicts and both rates, rounded as
AppWorld rounds them (percent, 0.1). Infrastructure-error runs are not scored by trirole,
so they are not sent to AppWorld either. The result is written to
``out_dir/appworld_agreement.json``, which the report shows when present.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from trirole.evals.metrics import goal_completion
from trirole.evals.results import is_infra_error, read_results, repeat_of, solved

AGREEMENT_FILE = "appworld_agreement.json"


def appworld_percent(rate: float | None) -> float | None:
    """A rate as AppWorld reports it: ``round(100 * round(rate, 4), 1)``."""
    return None if rate is None else round(100 * round(rate, 4), 1)


def _dataset_of(out: Path) -> str | None:
    try:
        return json.loads((out / "run.json").read_text(encoding="utf-8")).get("dataset")
    except (OSError, ValueError):
        return None


def check_agreement(out_dir: str | Path, *, root: str | Path | None = None) -> dict[str, Any]:
    """Compare trirole's and AppWorld's TGC/SGC for every (paradigm, repeat) of the
    AppWorld evaluation in `out_dir`; writes and returns ``{"agree": bool, "runs": [...]}``.

    root: the AppWorld data root the run used (default: the running AppWorld server's,
    else ``APPWORLD_ROOT`` if set, else the offline pack). When a group's tasks are
    exactly its split's tasks, AppWorld's ``evaluate_dataset`` is used; otherwise
    ``evaluate_tasks`` on those tasks."""
    from trirole.environments.appworld.agreement import appworld_evaluation
    from trirole.environments.appworld.data import check_root, current_root, list_tasks
    from trirole.environments.appworld.errors import AppWorldError

    out = Path(out_dir)
    data_root = check_root(root) if root is not None else current_root()
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for record in read_results(out):
        if record.get("env") == "appworld" and not is_infra_error(record):
            groups[(record["paradigm"], repeat_of(record))].append(record)
    if not groups:
        raise ValueError(f"{out} holds no scored AppWorld runs to compare")
    dataset = _dataset_of(out)
    try:
        split = set(list_tasks(dataset, data_root)) if dataset else set()
    except AppWorldError:
        split = set()
    runs = []
    for (paradigm, repeat), records in sorted(groups.items()):
        experiments = {r.get("experiment") for r in records}
        if len(experiments) != 1 or None in experiments:
            raise ValueError(f"{paradigm} repeat {repeat}: the records do not name one AppWorld experiment "
                             f"({sorted(map(str, experiments))}); rerun with a current trirole")
        experiment = experiments.pop()
        task_ids = [r["task_id"] for r in records]
        whole_split = bool(split) and set(task_ids) == split
        theirs = appworld_evaluation(experiment, data_root, dataset=dataset if whole_split else None,
                                     task_ids=None if whole_split else task_ids)
        ours = goal_completion(records)
        mine = {"tgc": appworld_percent(ours["tgc"]), "sgc": appworld_percent(ours["sgc"])}
        differing = sorted(r["task_id"] for r in records if solved(r) != theirs["success"].get(r["task_id"]))
        runs.append({"paradigm": paradigm, "repeat": repeat, "experiment": experiment, "tasks": len(task_ids),
                     "function": theirs["function"], "trirole": mine,
                     "appworld": {"tgc": theirs["tgc"], "sgc": theirs["sgc"]}, "differing_tasks": differing,
                     "agree": mine == {"tgc": theirs["tgc"], "sgc": theirs["sgc"]} and not differing})
    result = {"agree": all(r["agree"] for r in runs), "root": str(data_root), "runs": runs}
    (out / AGREEMENT_FILE).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def read_agreement(out_dir: str | Path) -> dict[str, Any] | None:
    """The last `check_agreement` result of `out_dir`, if any."""
    try:
        return json.loads((Path(out_dir) / AGREEMENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
