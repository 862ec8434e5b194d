"""The artifact store, measured: recall and precision of secrets on the labelled corpus, and
the artifact block's share of the agent prompt over a long listing episode.

    .venv/bin/python benchmarks/artifacts.py [--steps 7] [--songs 150] [--share 0.25] [--context 4096]

Corpus: tests/data/artifacts/ (real AppWorld engine output on the offline pack, captured by
its capture.py, plus hand-written plain-text shapes; each sample labelled with its
secrets). Rates come with 95% Clopper-Pearson intervals: the corpus is small, and the
interval says how little a perfect score on it proves.

Episode: the scaffold on a fake model and an in-memory environment that prints the
supervisor's passwords once, then a page of `--songs` songs (song_id, title, artist_id,
duration) per step. For every agent prompt it prints the records in the store and in the
block, the block's size against `artifact_share` of the prompt budget (target: at most
the share), the block's share of the whole prompt, and whether the password is in the
prompt (in its turn until a summary covers it, then in the block, which a prompt has only
from its first summary on). Tokens are trirole's heuristic count (3 characters per token,
the rule the budget code falls back to).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from scipy.stats import binomtest

from trirole import build_scaffold_graph
from trirole.artifacts import extract_artifacts, is_secret
from trirole.backend import HeuristicTokenCounter
from trirole.nodes.context import artifact_block_chars
from trirole.settings import TriroleSettings
from trirole.environments.base import EnvironmentInfo

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "artifacts"
ARTIFACTS_HEADER = "Artifacts (exact values, always use these verbatim):\n"
PASSWORD = "UBGeLfLSrq"


def rate(k: int, n: int) -> str:
    if n == 0:
        return "n/a"
    low, high = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return f"{k / n:6.1%}  ({k}/{n}, 95% CI {low:.1%}-{high:.1%})"


def corpus_scores() -> None:
    samples = [s for name in ("appworld.json", "shapes.json") for s in json.loads((CORPUS / name).read_text())]
    hits = labels = found_total = 0
    false_positives = []
    for sample in samples:
        found = {a["value"] for a in extract_artifacts(sample["output"], step=1, source="s",
                                                       code=sample["code"]).values() if is_secret(a)}
        want = set(sample["secrets"])
        hits, labels, found_total = hits + len(found & want), labels + len(want), found_total + len(found)
        false_positives += [(sample["id"], value) for value in sorted(found - want)]
    real = sum(1 for s in samples if s["id"].startswith("appworld/"))
    print(f"corpus: {len(samples)} samples ({real} real AppWorld engine outputs), {labels} labelled secrets")
    print(f"  recall of secrets      {rate(hits, labels)}")
    print(f"  precision of secrets   {rate(hits, found_total)}")
    print(f"  false positives        {len(false_positives)}: {false_positives}")


class ListingEnvironment:
    """Prints the passwords once, then one page of songs per step."""

    name = "listing"

    def __init__(self, songs: int) -> None:
        self.songs, self.calls = songs, 0

    async def reset(self, task: Any) -> EnvironmentInfo:
        return EnvironmentInfo(instruction=task["instruction"], reference="apis.spotify.show_song_library(page_index)")

    async def execute(self, code: str) -> dict:
        self.calls += 1
        if "complete_task" in code:
            return {"code": code, "output": "done", "error": False, "task_completed": True}
        if self.calls == 1:
            output = json.dumps([{"account_name": "spotify", "password": PASSWORD}], indent=1)
        else:
            page = self.calls - 1
            output = json.dumps([{"song_id": page * 1000 + i, "title": f"Song {i} of page {page}",
                                  "artist_id": 500 + i, "duration": 180 + i} for i in range(self.songs)], indent=1)
        return {"code": code, "output": output, "error": False}

    async def evaluate(self) -> None:
        return None

    async def close(self) -> None:
        pass


class AgentPrompts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.prompts: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], *,
                            metadata: dict | None = None, **kwargs: Any) -> None:
        if (metadata or {}).get("trirole_role") == "agent":
            self.prompts.append(list(messages[0]))


def kept(prompt: list[BaseMessage], index: int) -> bool:
    """The password is verbatim in agent prompt `index` (shown by step 1: in its turn until
    that turn is summarized, then in the artifact block)."""
    return index < 1 or PASSWORD in "\n".join(str(m.content) for m in prompt)


async def listing_episode(steps: int, songs: int, share: float, context: int) -> None:
    settings = {"max_context_tokens": context, "max_completion_tokens": 512, "max_steps": steps + 2,
                "use_corrector": False, "artifact_share": share, "max_observation_chars": 3000}
    codes = ["print(apis.supervisor.show_account_passwords())"]
    codes += [f"print(apis.spotify.show_song_library(page_index={i}, page_limit={songs}))" for i in range(steps)]
    codes += ["complete_task()"]
    replies = [AIMessage(content=f"Next.\n```python\n{c}\n```") for c in codes]
    model = GenericFakeChatModel(messages=iter(replies))
    summaries = GenericFakeChatModel(messages=iter([AIMessage(content="Listed songs page by page.")] * 50))
    log = AgentPrompts()
    graph = build_scaffold_graph(models={"agent": model, "summarizer": summaries, "corrector": model},
                                 environment=ListingEnvironment(songs), settings=settings)
    out = await graph.ainvoke({"task": {"instruction": "List every song in my library."}},
                              config={"callbacks": [log], "recursion_limit": 500})
    resolved = TriroleSettings(**settings)
    limit_chars, budget = artifact_block_chars(resolved), resolved.prompt_budget
    counter = HeuristicTokenCounter()
    print(f"\nlong listing episode: {songs} songs per step, {steps} listing steps, prompt budget {budget} tokens, "
          f"artifact_share {share} (= {limit_chars} chars), summarizations {out['counters'].get('summarizations', 0)}")
    print(f"  {'prompt':>6} {'records shown':>13} {'block chars':>11} {'block tokens':>12} "
          f"{'of budget':>9} {'of prompt':>9} {'within share':>12} {'password kept':>13}")
    worst = 0.0
    for index, prompt in enumerate(log.prompts):
        task = str(prompt[1].content)
        block = task.split(ARTIFACTS_HEADER)[1] if ARTIFACTS_HEADER in task else ""
        tokens = counter.count([HumanMessage(block)]) - counter.tokens_per_message if block else 0
        prompt_tokens = counter.count(prompt)
        shown = sum(1 for line in block.splitlines() if line.startswith("- song_id="))
        of_budget = tokens / budget
        worst = max(worst, of_budget)
        print(f"  {index:>6} {shown:>13} {len(block):>11} {tokens:>12} {of_budget:>9.1%} {tokens / prompt_tokens:>9.1%} "
              f"{'yes' if of_budget <= share else 'NO':>12} {'yes' if kept(prompt, index) else 'NO':>13}")
    total_songs = songs * steps
    print(f"  songs listed in the episode: {total_songs}; largest block share of the budget: {worst:.1%} "
          f"(configured {share:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--songs", type=int, default=150)
    parser.add_argument("--share", type=float, default=TriroleSettings.artifact_share)
    parser.add_argument("--context", type=int, default=TriroleSettings.max_context_tokens,
                        help="max_context_tokens (12288: the paper's FP16 setting)")
    args = parser.parse_args()
    corpus_scores()
    asyncio.run(listing_episode(args.steps, args.songs, args.share, args.context))


if __name__ == "__main__":
    main()
