"""Published results: reference rows for reports, NOT measured here.

AppWorld: *Three Roles, One Model* reports task goal completion (TGC, %) of a raw ReAct
agent and of the three-role scaffold with Qwen3-8B, and a DeepSeek-Coder-33B row.
*Rethinking Scale* compares a base model, a single agent with tools and a multi-agent
system qualitatively here: no numbers are copied from it.

BFCL: the leaderboard's own published score files, for the smallest models it lists
(`BFCL_PUBLISHED_ROWS`, each with the file it was copied from).
"""

from __future__ import annotations

MARK = "published, not measured here"

THREE_ROLES = "Three Roles, One Model"
RETHINKING_SCALE = "Rethinking Scale"

PUBLISHED_ROWS: list[dict[str, object]] = [
    {"paper": THREE_ROLES, "model": "Qwen3-8B FP16", "paradigm": "react (raw agent)", "subset": "all",
     "metric": "TGC %", "value": 5.4},
    {"paper": THREE_ROLES, "model": "Qwen3-8B FP16", "paradigm": "scaffold (three roles)", "subset": "all",
     "metric": "TGC %", "value": 8.9},
    {"paper": THREE_ROLES, "model": "Qwen3-8B AWQ", "paradigm": "react (raw agent)", "subset": "all",
     "metric": "TGC %", "value": 3.0},
    {"paper": THREE_ROLES, "model": "Qwen3-8B AWQ", "paradigm": "scaffold (three roles)", "subset": "all",
     "metric": "TGC %", "value": 5.9},
    {"paper": THREE_ROLES, "model": "Qwen3-8B FP16", "paradigm": "react (raw agent)", "subset": "difficulty 1",
     "metric": "TGC %", "value": 15.8},
    {"paper": THREE_ROLES, "model": "Qwen3-8B FP16", "paradigm": "scaffold (three roles)", "subset": "difficulty 1",
     "metric": "TGC %", "value": 26.3},
    {"paper": THREE_ROLES, "model": "Qwen3-8B AWQ", "paradigm": "react (raw agent)", "subset": "difficulty 1",
     "metric": "TGC %", "value": 5.3},
    {"paper": THREE_ROLES, "model": "Qwen3-8B AWQ", "paradigm": "scaffold (three roles)", "subset": "difficulty 1",
     "metric": "TGC %", "value": 14.0},
    {"paper": THREE_ROLES, "model": "DeepSeek-Coder-33B", "paradigm": "reference row of the paper", "subset": "all",
     "metric": "TGC %", "value": 7.1},
]

RETHINKING_SCALE_FINDING = (
    "Rethinking Scale (base model vs single agent with tools vs multi-agent system): qualitative finding only - "
    "single agents gave the best balance of performance and cost; multi-agent systems added overhead with "
    "limited gains. No numbers from that paper are reproduced here."
)


# -- BFCL: the leaderboard's own data files ---------------------------------------------------------
BFCL_RESULTS_REPO = "github.com/HuanzhiMao/BFCL-Result"
BFCL_RESULTS_COMMIT = "6830ed13035c0cfee9aa7a9a0ffed70f10b3dd50"
BFCL_RESULTS_DATE = "2025-12-16"
"""The BFCL leaderboard's published score files (its site reads them from this repository,
one folder per leaderboard update): BFCL V4 (``BFCL_v4_*`` files), the update of
2025-12-16, as stored at this commit. Each file's first line is BFCL's own
``{"accuracy", "correct_count", "total_count"}`` of one model on one category."""

BFCL_PUBLISHED_ROWS: list[dict[str, object]] = [
    # The smallest models (under 2B parameters) of that update, on simple_python and the
    # four multi-turn categories: (model as BFCL names its folder, category, correct, total).
    {"model": model, "category": category, "correct": correct, "total": total,
     "file": f"{BFCL_RESULTS_DATE}/score/{model}/{group}/BFCL_v4_{category}_score.json"}
    for model, group, category, correct, total in [
        ("MadeAgents_Hammer2.1-0.5b", "non_live", "simple_python", 333, 400),
        ("MadeAgents_Hammer2.1-0.5b", "multi_turn", "multi_turn_base", 9, 200),
        ("MadeAgents_Hammer2.1-0.5b", "multi_turn", "multi_turn_long_context", 5, 200),
        ("MadeAgents_Hammer2.1-0.5b", "multi_turn", "multi_turn_miss_func", 1, 200),
        ("MadeAgents_Hammer2.1-0.5b", "multi_turn", "multi_turn_miss_param", 8, 200),
        ("Salesforce_xLAM-2-1b-fc-r", "non_live", "simple_python", 334, 400),
        ("Salesforce_xLAM-2-1b-fc-r", "multi_turn", "multi_turn_base", 91, 200),
        ("Salesforce_xLAM-2-1b-fc-r", "multi_turn", "multi_turn_long_context", 51, 200),
        ("Salesforce_xLAM-2-1b-fc-r", "multi_turn", "multi_turn_miss_func", 72, 200),
        ("Salesforce_xLAM-2-1b-fc-r", "multi_turn", "multi_turn_miss_param", 74, 200),
        ("MadeAgents_Hammer2.1-1.5b", "non_live", "simple_python", 359, 400),
        ("MadeAgents_Hammer2.1-1.5b", "multi_turn", "multi_turn_base", 40, 200),
        ("MadeAgents_Hammer2.1-1.5b", "multi_turn", "multi_turn_long_context", 33, 200),
        ("MadeAgents_Hammer2.1-1.5b", "multi_turn", "multi_turn_miss_func", 33, 200),
        ("MadeAgents_Hammer2.1-1.5b", "multi_turn", "multi_turn_miss_param", 19, 200),
    ]
]
"""Copied from those files' first lines (read 2026-12-07). BFCL's own runner scored them:
the model's replies as BFCL's handler for it reads them (JSON or Python calls), up to 20
steps per turn; not this project's harness, which has models write code actions."""
