#!/usr/bin/env bash
# The main job on the embedded default, sized to finish within 15 minutes on 2 cores once
# set up: the local vLLM server with the bundled small model, then two parts, each the
# oracle's reference run (the harness scoring each task's ground truth) and the paradigms
# evaluated side by side with a live progress display:
#   AppWorld: every paradigm on the offline pack's dev split (the first DEMO_LIMIT tasks),
#     AppWorld's environment servers on the offline task pack (generated on first use);
#   BFCL: base, react and scaffold on the first DEMO_BFCL_LIMIT simple_python entries,
#     scored by BFCL's own checker (BFCL installs in its own environment on first use,
#     about 2 minutes): a benchmark on which the embedded model scores above zero, so
#     the paradigms differ; its report's paired comparisons are printed.
# Idempotent: servers already running are reused, and every evaluation resumes where a
# previous run stopped.
#
# Knobs (environment variables): DEMO_OUT (runs/demo), DEMO_DATASET (dev),
# DEMO_PARADIGMS (base,react,multi-agent,scaffold), DEMO_LIMIT (6: the first 6 tasks of
# the split, 2 of its 6 scenarios, where every paradigm of the embedded model solves
# nothing; all: the whole split, about 7 minutes more), DEMO_MAX_STEPS (5),
# DEMO_MAX_COMPLETION_TOKENS (192), DEMO_CONCURRENCY (4), DEMO_ORACLE (1; 0 skips the
# reference runs); the BFCL part: DEMO_BFCL (1; 0 skips it), DEMO_BFCL_DATASET
# (bfcl:simple_python), DEMO_BFCL_LIMIT (200: the first 200 entries, where the scaffold's
# gain over react was distinguishable in the 400-entry run, docs/bfcl.md), DEMO_BFCL_PARADIGMS (base,react,scaffold),
# DEMO_BFCL_MAX_STEPS (2), DEMO_BFCL_MAX_COMPLETION_TOKENS (96), DEMO_BFCL_CONCURRENCY (8).
set -euo pipefail
cd "$(dirname "$0")/.."
T=.venv/bin/trirole
out="${DEMO_OUT:-runs/demo}"
started=$SECONDS

if ! .venv/bin/python -c "import sys; from trirole.serving.local_model import VLLM_ENV_NAME; \
from trirole.serving.venvs import read_stamp; sys.exit(read_stamp(VLLM_ENV_NAME) is None)" 2>/dev/null; then
  echo "demo: first run: installing vLLM's CPU build in its own environment (about 4 minutes, 3.5 GB) and" \
       "building the model checkpoint, its compiled form and the AppWorld task pack; later runs skip this (about 20 minutes in all)"
fi
$T model serve                      # the embedded SmolLM2-135M on vLLM's CPU build (cached)
# (No shared AppWorld server: each evaluation starts its own, one per worker, and stops them.)

# part TITLE FOLDER: the oracle's reference run of the evaluation that `shared` describes
# into FOLDER/oracle (unless DEMO_ORACLE=0), the embedded model (`model_only` added) into
# FOLDER, then the report's lines at a glance. --extend in `shared`: a larger limit or more
# paradigms add pairs to the folders' evaluations (another max-steps is another
# experiment: the eval refuses it and says so).
part() {
  if [ "${DEMO_ORACLE:-1}" != 0 ]; then
    echo "demo: $1: the reference (each task's ground truth through the same harness) -> $2/oracle"
    $T eval "${shared[@]}" --model oracle --out "$2/oracle"
  fi
  echo "demo: $1: the embedded model on each paradigm -> $2"
  $T eval "${shared[@]}" --out "$2" "${model_only[@]}"
  echo
  awk '/^## At a glance/ {on = 1; next} on && /^- / {print; seen = 1; next} on && seen {exit}' "$2/report.md"
}

limit="${DEMO_LIMIT:-6}"
shared=(--paradigms "${DEMO_PARADIGMS:-base,react,multi-agent,scaffold}" --dataset "${DEMO_DATASET:-dev}"
        --concurrency "${DEMO_CONCURRENCY:-4}" --extend)
[ "$limit" != "all" ] && shared+=(--limit "$limit")
model_only=(--max-steps "${DEMO_MAX_STEPS:-5}" --max-completion-tokens "${DEMO_MAX_COMPLETION_TOKENS:-192}")
part AppWorld "$out"

# BFCL: the scaffold's corrector also reviews replies without code (--review-no-code),
# the small model's common failure there (docs/bfcl.md).
if [ "${DEMO_BFCL:-1}" != 0 ]; then
  limit="${DEMO_BFCL_LIMIT:-200}"
  shared=(--paradigms "${DEMO_BFCL_PARADIGMS:-base,react,scaffold}" --dataset "${DEMO_BFCL_DATASET:-bfcl:simple_python}"
          --concurrency "${DEMO_BFCL_CONCURRENCY:-8}" --extend)
  [ "$limit" != "all" ] && shared+=(--limit "$limit")
  model_only=(--max-steps "${DEMO_BFCL_MAX_STEPS:-2}" --max-completion-tokens "${DEMO_BFCL_MAX_COMPLETION_TOKENS:-96}"
              --review-no-code)
  echo
  part BFCL "$out/bfcl"
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
echo "demo: done in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s; reports: $out/report.md" \
     "$([ "${DEMO_BFCL:-1}" != 0 ] && echo "and $out/bfcl/report.md")"
