"""How much of each agent prompt a server's prefix cache could serve, on an episode whose
outputs are full of credentials and records, before and after a layout change, side by side.

    .venv/bin/python benchmarks/prompt_reuse.py [--before REV] [--steps 12] [--context 4096]

No model server: the agent is a fake chat model with a fixed script and the environment
prints what AppWorld prints on such a task (the supervisor's passwords, a login's access
token, pages of songs with their ids, short API responses), so both layouts see the very
same turns. A prefix cache (vLLM's, on CPU or GPU) serves the longest prefix of a prompt
that an earlier prompt or reply already had; for each agent call this measures that
prefix against the call before it (its prompt and its reply, rendered as a chat
template would) and prints the share of all prompt characters it covers: an upper bound
of the hit rate (a server reuses whole KV blocks of that prefix).

``--before REV`` runs the same episode again with trirole's source as of commit REV (from
``git archive``, in a subprocess) and prints both rows. The 135M embedded model rarely
gets far enough to print credentials, so this is where the layout's effect on a capable
model's runs shows; the demo's own server counters are in docs/results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def outputs(step: int) -> str:
    """What the environment prints at `step` (1-based): credentials first, then listings
    and responses that carry ids, as an AppWorld episode does."""
    if step == 1:
        return json.dumps([{"account_name": "spotify", "password": "UBGeLfLSrq"},
                           {"account_name": "venmo", "password": "k3#Pz9!qLw"}], indent=1)
    if step == 2:
        return json.dumps({"access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzcG90aWZ5In0.c2lnbmF0dXJl",
                           "token_type": "Bearer"}, indent=1)
    if step % 3 == 0:
        return json.dumps({"message": "Song liked.", "song_id": 1000 + step}, indent=1)
    return json.dumps([{"song_id": step * 100 + i, "title": f"Song {i} of page {step}", "artist_id": 500 + i,
                        "duration": 180 + i} for i in range(12)], indent=1)


async def episode(paradigm: str, steps: int, context: int) -> dict[str, Any]:
    """Run one episode; the agent's prompts and replies in call order."""
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from trirole import build_react_graph, build_scaffold_graph
    from trirole.environments.base import EnvironmentInfo

    class Environment:
        name = "scripted"

        def __init__(self) -> None:
            self.calls = 0

        async def reset(self, task: Any) -> EnvironmentInfo:
            return EnvironmentInfo(instruction=task["instruction"],
                                   reference="apis.spotify.login(username, password), apis.spotify.show_song_library("
                                             "page_index, access_token), apis.spotify.like_song(song_id, access_token)")

        async def execute(self, code: str) -> dict:
            self.calls += 1
            if "complete_task" in code:
                return {"code": code, "output": "done", "error": False, "task_completed": True}
            return {"code": code, "output": outputs(self.calls), "error": False}

        async def evaluate(self) -> None:
            return None

        async def close(self) -> None:
            pass

    class Calls(BaseCallbackHandler):
        def __init__(self) -> None:
            self.prompts: list[list[Any]] = []

        def on_chat_model_start(self, serialized: Any, messages: list[list[Any]], *,
                                metadata: dict | None = None, **kwargs: Any) -> None:
            if (metadata or {}).get("trirole_role") == "agent":
                self.prompts.append(list(messages[0]))

    replies = [f"Step {i}.\n```python\nresult_{i} = do_step({i})\nprint(result_{i})\n```" for i in range(1, steps)]
    replies.append("Done.\n```python\napis.supervisor.complete_task()\n```")
    agent = GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))
    summaries = GenericFakeChatModel(messages=iter([AIMessage(content="Logged in and went through the pages.")] * 50))
    settings = {"max_context_tokens": context, "max_completion_tokens": 512, "max_steps": steps,
                "use_corrector": False}
    if paradigm == "scaffold":
        graph = build_scaffold_graph(models={"agent": agent, "summarizer": summaries, "corrector": agent},
                                     environment=Environment(), settings=settings)
    else:
        graph = build_react_graph(model=agent, environment=Environment(), settings=settings)
    calls = Calls()
    out = await graph.ainvoke({"task": {"instruction": "Like every song in my Spotify library."}},
                              config={"callbacks": [calls], "recursion_limit": 500})
    rendered = [[(m.type, str(m.content)) for m in prompt] for prompt in calls.prompts]
    return {"prompts": rendered, "replies": replies[:len(rendered)],
            "summarizations": (out.get("counters") or {}).get("summarizations", 0)}


def chat_text(messages: list[tuple[str, str]]) -> str:
    """A prompt as a chat template lays it out (ChatML, as SmolLM2's and Qwen's)."""
    return "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)


def reuse(run: dict[str, Any]) -> tuple[int, int]:
    """(characters an earlier call had, characters in all) over the run's agent prompts."""
    served = total = 0
    previous = ""
    for prompt, reply in zip(run["prompts"], run["replies"]):
        text = chat_text(prompt)
        served += len(os.path.commonprefix([text, previous]))
        total += len(text)
        previous = text + chat_text([("ai", reply)])
    return served, total


def measure(steps: int, context: int) -> dict[str, Any]:
    rows = {}
    for paradigm in ("react", "scaffold"):
        run = asyncio.run(episode(paradigm, steps, context))
        served, total = reuse(run)
        rows[paradigm] = {"calls": len(run["prompts"]), "served": served, "total": total,
                          "summarizations": run["summarizations"]}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", metavar="GIT_REV", help="also measure trirole's source as of this commit")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--context", type=int, default=4096, help="max_context_tokens (the summarizer's trigger)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # a child run's output
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.steps, args.context)))
        return
    results = {"this tree": measure(args.steps, args.context)}
    if args.before:
        with tempfile.TemporaryDirectory(prefix="trirole-before-") as old:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
            child = subprocess.run([sys.executable, __file__, "--json", "--steps", str(args.steps),
                                    "--context", str(args.context)], check=True, capture_output=True, text=True,
                                   env={**os.environ, "PYTHONPATH": old}, cwd=old)
            results[args.before] = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"agent prompts over {args.steps} steps (credentials at steps 1-2, then pages of ids and responses), "
          f"max_context_tokens {args.context}")
    print(f"  {'source':<12} {'paradigm':<9} {'calls':>5} {'summaries':>9} {'prompt chars':>12} "
          f"{'reusable prefix':>15}")
    for source, rows in results.items():
        for paradigm, row in rows.items():
            print(f"  {source:<12} {paradigm:<9} {row['calls']:>5} {row['summarizations']:>9} {row['total']:>12,} "
                  f"{row['served'] / row['total']:>15.1%}")


if __name__ == "__main__":
    main()
