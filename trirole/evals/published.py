"""The two papers' published results: reference rows for reports, NOT measured here.

*Three Roles, One Model* reports AppWorld task goal completion (TGC, %) of a raw ReAct
agent and of the three-role scaffold with Qwen3-8B, and a DeepSeek-Coder-33B row.
*Rethinking Scale* compares a base model, a single agent with tools and a multi-agent
system qualitatively here: no numbers are copied from it.
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
