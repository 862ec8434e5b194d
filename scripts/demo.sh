#!/usr/bin/env bash
# The main job on the embedded default, within DEMO_MINUTES (15) once set up, 25 on a first
# run with its set-up: the local model server with the bundled small model (llama.cpp's
# server on CPUs without bf16 instructions, vLLM's CPU build on CPUs with them; `trirole
# model serve` says which and why), measured first, then two
# parts, each with the oracle's reference run (the harness scoring each task's ground truth)
# and the paradigms side by side with a live progress display:
#   AppWorld: every paradigm on the offline pack's dev split (the first DEMO_LIMIT tasks),
#     AppWorld's environment servers on the offline task pack (generated on first use);
#   BFCL: base, react and scaffold on simple_python entries, scored by BFCL's own checker
#     (BFCL installs in its own environment on first use, about 3 minutes): a benchmark on
#     which the embedded model scores above zero, so the paradigms differ. It starts with
#     DEMO_BFCL_STEP entries (fewer when the time left would not hold them at the probe's
#     pace) and grows up to DEMO_BFCL_LIMIT while the measured pace says the next step ends
#     in time (scripts/demo_plan.py), and prints the report's paired tests.
# Idempotent: servers already running are reused, and every evaluation resumes where a
# previous run stopped.
#
# Knobs (environment variables): DEMO_OUT (runs/demo), DEMO_MINUTES (15; 25 on a first run),
# DEMO_DATASET (dev), DEMO_PARADIGMS (base,react,multi-agent,scaffold), DEMO_LIMIT (2: the
# first 2 tasks of the split, where every paradigm of the embedded model solves nothing:
# AppWorld's long prompts cost minutes per task on 2 cores; all: the whole split),
# DEMO_MAX_STEPS (3), DEMO_MAX_COMPLETION_TOKENS (192),
# DEMO_CONCURRENCY (4), DEMO_ORACLE (1; 0 skips the reference runs); the BFCL part: DEMO_BFCL
# (1; 0 skips it), DEMO_BFCL_DATASET (bfcl:simple_python), DEMO_BFCL_LIMIT (400: where the
# scaffold's gain over react was distinguishable, docs/bfcl.md), DEMO_BFCL_STEP (50),
# DEMO_BFCL_PARADIGMS (base,react,scaffold), DEMO_BFCL_ORACLE_PARADIGMS (react: the
# reference needs one run per entry), DEMO_BFCL_MAX_STEPS (2),
# DEMO_BFCL_MAX_COMPLETION_TOKENS (96), DEMO_BFCL_CONCURRENCY (8).
set -euo pipefail
cd "$(dirname "$0")/.."
T=.venv/bin/trirole
PY=.venv/bin/python
out="${DEMO_OUT:-runs/demo}"
started=$SECONDS
minutes="${DEMO_MINUTES:-15}"

first_use=$($PY -c "from trirole.serving.local_model import embedded_first_use; print(embedded_first_use())")
if [ -n "$first_use" ]; then
  minutes="${DEMO_MINUTES:-25}"
  echo "demo: first run: $first_use, then AppWorld's environment and task pack and BFCL's environment as" \
       "each part starts; later runs skip this. This run takes at most about $minutes minutes."
fi
# Seconds since the epoch when `make demo` began (its set-up counts), else now.
now() { date +%s; }
deadline=$(( ${DEMO_STARTED:-$(now)} + minutes * 60 ))
$T model serve                      # the embedded SmolLM2-135M (engine chosen for this CPU, cached)
server=$($PY -c "from trirole.serving.local_model import status; s = status(); print(s['url'], s['model'])")
probe=$($PY scripts/demo_plan.py probe $server)
echo "$probe" | head -1
rate=$(echo "$probe" | tail -1)
# (No shared AppWorld server: each evaluation starts its own, one per worker, and stops them.)

# oracle TITLE FOLDER [PARADIGMS]: the oracle's reference run of the evaluation that `shared`
# describes into FOLDER/oracle (unless DEMO_ORACLE=0). model TITLE FOLDER: the embedded
# model (`model_only` added) into FOLDER. --extend in `shared`: a larger limit or more
# paradigms add pairs to the folders' evaluations (another max-steps is another
# experiment: the eval refuses it and says so).
oracle() {
  [ "${DEMO_ORACLE:-1}" = 0 ] && return 0
  echo "demo: $1: the reference (each task's ground truth through the same harness) -> $2/oracle"
  $T eval "${shared[@]}" ${3:+--paradigms "$3"} --model oracle --out "$2/oracle"
}
model() {
  echo "demo: $1: the embedded model on each paradigm -> $2"
  $T eval "${shared[@]}" --out "$2" "${model_only[@]}"
}
glance() {
  echo
  awk '/^## At a glance/ {on = 1; next} on && /^- / {print; seen = 1; next} on && seen {exit}' "$1/report.md"
}

limit="${DEMO_LIMIT:-2}"
shared=(--paradigms "${DEMO_PARADIGMS:-base,react,multi-agent,scaffold}" --dataset "${DEMO_DATASET:-dev}"
        --concurrency "${DEMO_CONCURRENCY:-4}" --extend)
[ "$limit" != "all" ] && shared+=(--limit "$limit")
model_only=(--max-steps "${DEMO_MAX_STEPS:-3}" --max-completion-tokens "${DEMO_MAX_COMPLETION_TOKENS:-192}")
oracle AppWorld "$out"
model AppWorld "$out"
glance "$out"

# BFCL: the scaffold's corrector also reviews replies without code (--review-no-code),
# the small model's common failure there (docs/bfcl.md). The comparison grows a step at a
# time while the pace measured on the steps so far says the next one ends in time.
if [ "${DEMO_BFCL:-1}" != 0 ]; then
  cap="${DEMO_BFCL_LIMIT:-400}"; step="${DEMO_BFCL_STEP:-50}"
  shared=(--paradigms "${DEMO_BFCL_PARADIGMS:-base,react,scaffold}" --dataset "${DEMO_BFCL_DATASET:-bfcl:simple_python}"
          --concurrency "${DEMO_BFCL_CONCURRENCY:-8}" --extend)
  model_only=(--max-steps "${DEMO_BFCL_MAX_STEPS:-2}" --max-completion-tokens "${DEMO_BFCL_MAX_COMPLETION_TOKENS:-96}"
              --review-no-code)
  echo
  # Kept for the oracle's reference run, the report and the last lines once the steps end.
  reserve=90
  $T env install bfcl               # on first use (about 3 minutes), before the time left is sized
  limit=$($PY scripts/demo_plan.py first "$(( deadline - $(now) - reserve ))" "$rate" "$cap" "$step")
  done_entries=0; bfcl_s=0
  while [ "$limit" -gt "$done_entries" ]; do
    t0=$SECONDS
    shared_base=("${shared[@]}"); shared+=(--limit "$limit")
    model BFCL "$out/bfcl"
    shared=("${shared_base[@]}")
    bfcl_s=$(( bfcl_s + SECONDS - t0 )); done_entries=$limit
    limit=$($PY scripts/demo_plan.py next "$done_entries" "$bfcl_s" "$(( deadline - $(now) - reserve ))" "$cap" "$step")
  done
  shared+=(--limit "$done_entries")
  # The reference for the entries run, then the report again with it (no pair reruns).
  oracle BFCL "$out/bfcl" "${DEMO_BFCL_ORACLE_PARADIGMS:-react}"
  [ "${DEMO_ORACLE:-1}" != 0 ] && model BFCL "$out/bfcl" > /dev/null
  glance "$out/bfcl"
  awk '/^## Paired comparisons/ {on = 1} on && /^- / {print} on && /^## / && !/Paired/ {exit}' "$out/bfcl/report.md"
fi
# The model server's prefix cache over both parts (each report shows its own part's).
.venv/bin/python - "$out" "$out/bfcl" <<'EOF_PY'
import sys
from trirole.serving.metrics import prefix_cache_hit_rate, read_server_counters
parts = [c for c in map(read_server_counters, sys.argv[1:]) if c]
total = {key: sum(c.get(key, 0) for c in parts) for key in ("prefix_cache_queries", "prefix_cache_hits")}
rate = prefix_cache_hit_rate(total)
if rate is not None:
    print(f"demo: the model server's prefix cache served {rate:.1%} of the {total['prefix_cache_queries']:,} "
          "prompt tokens of this demo's evaluations")
EOF_PY
took=$(( $(now) - ${DEMO_STARTED:-$(( $(now) - SECONDS + started ))} ))
echo "demo: done in $(( took / 60 )) min $(( took % 60 )) s; reports: $out/report.md" \
     "$([ "${DEMO_BFCL:-1}" != 0 ] && echo "and $out/bfcl/report.md")"
