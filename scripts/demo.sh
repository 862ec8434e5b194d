#!/usr/bin/env bash
# The main job on the embedded default: the local vLLM server with the bundled small
# model, AppWorld's environment server on the offline task pack, and every paradigm
# evaluated side by side on the pack's dev split. Idempotent: servers already running
# are reused, and the evaluation resumes where a previous run stopped.
#
# Knobs (environment variables): DEMO_OUT (runs/demo), DEMO_DATASET (dev),
# DEMO_PARADIGMS (base,react,multi-agent,scaffold), DEMO_LIMIT (all tasks),
# DEMO_MAX_STEPS (6), DEMO_CONCURRENCY (2).
set -euo pipefail
cd "$(dirname "$0")/.."
T=.venv/bin/trirole
out="${DEMO_OUT:-runs/demo}"
$T model serve                      # the embedded SmolLM2-135M on vLLM's CPU build (cached)
$T env serve appworld               # AppWorld's server on the offline pack (generated once)
args=(--paradigms "${DEMO_PARADIGMS:-base,react,multi-agent,scaffold}" --dataset "${DEMO_DATASET:-dev}"
      --out "$out" --concurrency "${DEMO_CONCURRENCY:-2}" --max-steps "${DEMO_MAX_STEPS:-6}"
      --max-completion-tokens 256)
[ -n "${DEMO_LIMIT:-}" ] && args+=(--limit "$DEMO_LIMIT")
$T eval "${args[@]}"
echo "report: $out/report.md"
