"""A model server's own counters, read from its Prometheus ``/metrics`` (vLLM serves one, and
llama.cpp's server when started with ``--metrics``, as the embedded server is).

The counters of a run are the difference of two readings, before and after: prompt and
generated tokens as the server counted them, and how many prompt tokens its prefix cache
was asked for and served (hits / queries is the share of prompt tokens that cost no
prefill). They cover everything the server did in between, other clients' requests
included: on a server shared with other runs they are an upper bound of this run's.

An endpoint without ``/metrics`` (a scripted or foreign OpenAI-compatible server, a hosted
API) gives no reading: callers skip the counters silently.

    before = read_counters(urls)
    ...  # the run
    counters = counters_since(before, read_counters(urls))   # {} when nothing was read
    record_server_counters(out_dir, counters)                # server_counters.json, adds up
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

COUNTERS_FILE = "server_counters.json"
# Our name -> vLLM's sample name (Prometheus counters, summed over their label sets).
VLLM_COUNTERS = {
    "prompt_tokens": "vllm:prompt_tokens_total",
    "generation_tokens": "vllm:generation_tokens_total",
    "prefix_cache_queries": "vllm:prefix_cache_queries_total",
    "prefix_cache_hits": "vllm:prefix_cache_hits_total",
}
# llama.cpp's server counts the prompt tokens it processed (not those its cache served) and
# those its cache served; `_from_llama_cpp` turns them into the four counters above.
LLAMA_CPP_COUNTERS = {
    "prompt_tokens_processed": "llamacpp:prompt_tokens_total",
    "prompt_tokens_cached": "llamacpp:prompt_tokens_cached_total",
    "generation_tokens": "llamacpp:tokens_predicted_total",
}


def metrics_url(base_url: str) -> str:
    """``http://host:port/metrics`` of an OpenAI base URL (``.../v1`` or without it)."""
    url = base_url.rstrip("/")
    return (url[:-3] if url.endswith("/v1") else url) + "/metrics"


def parse_counters(text: str, names: Mapping[str, str] = VLLM_COUNTERS) -> dict[str, float]:
    """The samples `names` (ours -> Prometheus sample name; default `VLLM_COUNTERS`) found
    in a Prometheus text exposition, summed over their label sets."""
    wanted = {sample: name for name, sample in names.items()}
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                found[wanted[sample.name]] = found.get(wanted[sample.name], 0.0) + float(sample.value)
    return found


def _from_llama_cpp(found: Mapping[str, float]) -> dict[str, float]:
    """llama.cpp's counters as vLLM's: every prompt token was either processed or served
    from the cache, and the cache was asked for all of them."""
    prompt = found.get("prompt_tokens_processed", 0.0) + found.get("prompt_tokens_cached", 0.0)
    return {"prompt_tokens": prompt, "generation_tokens": found.get("generation_tokens", 0.0),
            "prefix_cache_queries": prompt, "prefix_cache_hits": found.get("prompt_tokens_cached", 0.0)}


def _metrics_text(base_url: str, timeout_s: float) -> str | None:
    """The server's /metrics page, or None when it serves none (unreachable, not 200)."""
    try:
        response = httpx.get(metrics_url(base_url), timeout=timeout_s)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def read_server(base_url: str, timeout_s: float = 5.0,
                names: Mapping[str, str] = VLLM_COUNTERS) -> dict[str, float] | None:
    """One server's counters (`names`, default the four of `VLLM_COUNTERS`; llama.cpp's
    server's are translated to those four), or None when it serves no /metrics with them."""
    text = _metrics_text(base_url, timeout_s)
    if text is None:
        return None
    try:
        found = parse_counters(text, names)
        if not found:
            llama = parse_counters(text, LLAMA_CPP_COUNTERS)
            found = _from_llama_cpp(llama) if llama else {}
    except ValueError:  # not Prometheus text
        return None
    return found or None


def serving_engine(base_url: str, timeout_s: float = 5.0) -> str | None:
    """Which engine serves `base_url` ("vllm" or "llama.cpp", told by its /metrics' names),
    or None when it serves none of them (another server, or none answering)."""
    text = _metrics_text(base_url, timeout_s) or ""
    if "vllm:" in text:
        return "vllm"
    return "llama.cpp" if "llamacpp:" in text else None


def read_counters(base_urls: Iterable[str]) -> dict[str, dict[str, float]]:
    """Counters by base URL, for the URLs that serve them (each URL read once)."""
    readings = {url: read_server(url) for url in dict.fromkeys(base_urls)}
    return {url: counters for url, counters in readings.items() if counters is not None}


def counters_since(before: Mapping[str, Mapping[str, float]],
                   after: Mapping[str, Mapping[str, float]]) -> dict[str, int]:
    """What the servers counted between two `read_counters`, summed over servers. A server
    read only once, or restarted in between (a counter went down), is left out."""
    total: dict[str, int] = {}
    for url, now in after.items():
        then = before.get(url)
        if then is None or any(now.get(k, 0) < then.get(k, 0) for k in now):
            continue
        for key, value in now.items():
            total[key] = total.get(key, 0) + int(round(value - then.get(key, 0)))
    return total


def record_server_counters(out_dir: str | Path, counters: Mapping[str, int]) -> None:
    """Add a run's counters to ``out_dir/server_counters.json`` (a resumed run adds up;
    ``runs`` counts the runs that contributed)."""
    if not counters:
        return
    path = Path(out_dir) / COUNTERS_FILE
    total = read_server_counters(out_dir) or {}
    for key, value in counters.items():
        total[key] = total.get(key, 0) + int(value)
    total["runs"] = total.get("runs", 0) + 1
    path.write_text(json.dumps(total, indent=1), encoding="utf-8")


def read_server_counters(out_dir: str | Path) -> dict[str, int] | None:
    """The counters recorded in ``out_dir`` (None when there are none)."""
    path = Path(out_dir) / COUNTERS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except ValueError:
        return None
    return data if isinstance(data, dict) and data else None


def prefix_cache_hit_rate(counters: Mapping[str, int]) -> float | None:
    """Share of prompt tokens served from the prefix cache (None without queries)."""
    queries = counters.get("prefix_cache_queries") or 0
    return (counters.get("prefix_cache_hits") or 0) / queries if queries else None
