"""How much of the demo fits in the time left (called by scripts/demo.sh).

    demo_plan.py probe URL MODEL
        the model server's speed on the demo's kind of request, measured now: 8 requests in
        flight, each a function's documentation and a question (as a BFCL entry is), greedy;
        prints one line for the demo and, last, the generated tokens/s alone.
    demo_plan.py first LEFT RATE CAP STEP
        the BFCL part's first limit: STEP entries, fewer (in tens, at least 10) when LEFT
        seconds would not hold them at the pace the probe's RATE (generated tokens/s)
        suggests. Prints the limit and, on stderr, why.
    demo_plan.py next DONE SECONDS LEFT CAP STEP
        the BFCL part's next limit: DONE entries took SECONDS; LEFT seconds remain; at most
        CAP entries, grown by tens (at least STEP / 5). Prints the new limit (DONE when too
        few fit) and, on stderr, why.

The demo grows its BFCL comparison step by step (each step resumes the evaluation with a
larger --limit, so nothing is redone) while the measured pace says the next step ends in
time: on a fast machine it reaches CAP, on a slow one it stops early and says so.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

DOC = ("You can call this Python function:\n"
       "def calculate_triangle_area(base: int, height: int, unit: str = 'units') -> float:\n"
       "    \"\"\"Calculate the area of a triangle given its base and height.\n"
       "    base: the base of the triangle; height: the height of the triangle;\n"
       "    unit: the unit of measure (defaults to 'units').\"\"\"\n")
QUESTIONS = ["Find the area of a triangle with a base of {} units and height of 5 units.",
             "What is the area of a triangle whose base is {} cm and height 7 cm?"]
# The share of the time left a step may take (the caller has already kept a reserve for
# the oracle's reference run, the report and the last lines). Entries differ: in the warm
# demo here simple_python's entries 50-99 took 1.5x the time of entries 0-49 (1.85x the
# generated tokens), and at 0.95 the demo ended 2 s past its 15 minutes.
SAFETY = 0.7


def probe(url: str, model: str, in_flight: int = 8, max_tokens: int = 48) -> float:
    def ask(i: int) -> int:
        question = QUESTIONS[i % len(QUESTIONS)].format(10 + i)
        reply = httpx.post(url.rstrip("/") + "/chat/completions", timeout=300, json={
            "model": model, "temperature": 0, "max_tokens": max_tokens,
            "messages": [{"role": "system", "content": DOC}, {"role": "user", "content": question}]})
        reply.raise_for_status()
        return reply.json()["usage"]["completion_tokens"]

    t0 = time.monotonic()
    with ThreadPoolExecutor(in_flight) as pool:
        tokens = sum(pool.map(ask, range(in_flight)))
    return tokens / (time.monotonic() - t0)


# Seconds a BFCL entry (its 3 paradigms) takes x the probe's tokens/s: 3.7 s an entry at a
# probe of 62 tokens/s in the warm demo here. A first guess only: after the first step the
# measured pace decides (`next_limit`).
SECONDS_X_RATE = 230.0
# An evaluation's own start and its report, per step.
STEP_OVERHEAD_S = 30.0


def first_limit(left: float, rate: float, cap: int, step: int) -> tuple[int, str]:
    """The first limit: `step` entries (at most `cap`), fewer when SAFETY of `left` (less a
    step's overhead) would not hold them at the pace `rate` suggests; at least 10."""
    per_entry = SECONDS_X_RATE / max(rate, 1e-6)
    fits = int((SAFETY * left - STEP_OVERHEAD_S) / per_entry) // 10 * 10
    limit = max(10, min(step, cap, fits))
    if limit >= min(step, cap):
        return limit, f"starting with {limit} entries"
    return limit, (f"{max(left, 0) / 60:.1f} min left; at about {per_entry:.1f} s an entry (the probe's "
                   f"{rate:.0f} tokens/s) starting with {limit} entries instead of {min(step, cap)}")


def next_limit(done: int, seconds: float, left: float, cap: int, step: int) -> tuple[int, str]:
    """The next limit: as many more entries (in tens, at least `step` // 5) as the pace so far
    says fit in SAFETY of `left`, at most `cap`."""
    if done >= cap:
        return done, (f"{done} entries took {seconds / 60:.1f} min: the comparison has all {cap} entries it may "
                      "have (DEMO_BFCL_LIMIT)")
    per_entry = seconds / max(done, 1)
    more = int(SAFETY * left / per_entry) // 10 * 10 if per_entry > 0 else cap
    limit = min(cap, done + max(0, more))
    if limit - done < max(10, step // 5):
        return done, (f"{done} entries took {seconds / 60:.1f} min; {max(left, 0) / 60:.1f} min left is too little "
                      f"for more: the comparison stays at {done} entries")
    return limit, (f"{done} entries took {seconds / 60:.1f} min ({per_entry:.1f} s each); {left / 60:.1f} min "
                   f"left: growing to {limit} entries")


def main(argv: list[str]) -> int:
    if argv[:1] == ["probe"] and len(argv) == 3:
        rate = probe(argv[1], argv[2])
        print(f"demo: the model server generates {rate:.0f} tokens/s with 8 requests in flight (measured now)")
        print(f"{rate:.0f}")
        return 0
    if argv[:1] == ["first"] and len(argv) == 5:
        limit, why = first_limit(float(argv[1]), float(argv[2]), int(argv[3]), int(argv[4]))
        print(f"demo: BFCL: {why}", file=sys.stderr)
        print(limit)
        return 0
    if argv[:1] == ["next"] and len(argv) == 6:
        limit, why = next_limit(int(argv[1]), float(argv[2]), float(argv[3]), int(argv[4]), int(argv[5]))
        print(f"demo: BFCL: {why}", file=sys.stderr)
        print(limit)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
