"""scripts/demo_plan.py: how the demo sizes its BFCL comparison to the time left (pure
arithmetic on measured times; the probe itself runs against the real server in `make demo`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "demo_plan", Path(__file__).resolve().parents[1] / "scripts" / "demo_plan.py")
demo_plan = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(demo_plan)


@pytest.mark.parametrize("done, seconds, left, expected", [
    (50, 186, 234, 90),     # the warm demo's numbers: 3.7 s an entry, 3.9 min left: 40 more
    (100, 120, 600, 400),   # 1.2 s an entry, 10 minutes left: the cap
    (100, 300, 600, 240),   # 3 s an entry: 420 s usable fits 140 more, in tens
    (100, 300, 20, 100),    # too little for 10 more: stays
    (300, 360, 10_000, 400),  # never beyond the cap
])
def test_the_bfcl_comparison_grows_by_what_the_pace_says_fits(done, seconds, left, expected):
    limit, why = demo_plan.next_limit(done, seconds, left, cap=400, step=50)
    assert limit == expected
    assert (f"growing to {limit}" in why) if limit > done else ("stays at" in why)


def test_at_the_cap_the_demo_says_the_comparison_is_complete_not_that_time_ran_out():
    limit, why = demo_plan.next_limit(400, 520, 520, cap=400, step=50)
    assert limit == 400 and "has all 400 entries" in why and "too little" not in why


@pytest.mark.parametrize("left, rate, expected", [
    (600, 62, 50),   # warm: 10 minutes left, the usual first step
    (280, 62, 40),   # a first run after 20 minutes of set-up: 166 s usable at 3.7 s an entry
    (60, 62, 10),    # nearly nothing left: the smallest step still shows the comparison
    (600, 20, 30),   # a slower server: 390 s usable at 11.5 s an entry
])
def test_the_first_bfcl_step_shrinks_to_the_time_left_at_the_probes_pace(left, rate, expected):
    limit, why = demo_plan.first_limit(left, rate, cap=400, step=50)
    assert limit == expected
    assert ("instead of 50" in why) == (limit < 50)


def test_the_cli_prints_the_limit_alone_on_stdout(capsys):
    assert demo_plan.main(["next", "100", "120", "600", "400", "50"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "400" and err.startswith("demo: BFCL: 100 entries took 2.0 min")
    assert demo_plan.main(["nonsense"]) == 2
