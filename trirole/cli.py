"""The ``trirole`` command: ``run`` one task, ``eval`` many, ``model`` and ``env`` servers."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from trirole.endpoints import base_url_argument
from trirole.settings import PRESETS, TriroleSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trirole", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run one task and print its transcript",
                         description="Run one task with a paradigm's graph and print the transcript step by step.")
    add_run_options(run)
    run.set_defaults(func=lambda args: asyncio.run(run_command(args)))
    from trirole.serving.cli import add_model_commands

    add_model_commands(sub)
    try:
        from trirole.tools.appworld.cli import add_env_commands
    except ImportError:  # pragma: no cover - the AppWorld adapter is part of the package
        pass
    else:
        add_env_commands(sub)
    try:
        from trirole.evals.cli import add_eval_command
    except ImportError:
        pass
    else:
        add_eval_command(sub)
    return parser


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Endpoint and budget options shared by ``run`` and ``eval``."""
    group = parser.add_argument_group("model")
    group.add_argument("--base-url", type=base_url_argument,
                       help="OpenAI-compatible base URL; replicas of one model as URL1,URL2,... or @FILE (one URL "
                            "a line): each request goes to the least-loaded one (default: the server of "
                            "`trirole model serve`)")
    group.add_argument("--model", help="model name as the server knows it (default: the local server's)")
    group.add_argument("--preset", choices=sorted(PRESETS), help="the paper's Qwen3-8B settings (model, context)")
    group.add_argument("--max-context-tokens", type=int, help="the model's context window (default 4096)")
    group.add_argument("--max-completion-tokens", type=int, help="tokens reserved for each answer (default 512)")
    group.add_argument("--thinking", action=argparse.BooleanOptionalAction, default=None,
                       help="Qwen3 thinking mode (default off; on with a preset)")
    group = parser.add_argument_group("scaffold")
    group.add_argument("--max-steps", type=int, help="agent steps before the run ends (default 20)")
    group.add_argument("--correction-policy", choices=["always", "after_n", "never"],
                       help="send code to the corrector after a failed execution (default always)")
    group.add_argument("--no-summarizer", action="store_true", help="ablation: never summarize")
    group.add_argument("--no-corrector", action="store_true", help="ablation: never correct")
    group.add_argument("--corrector-sees-history", action="store_true", help="ablation: corrector not isolated")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    from trirole.graphs import PARADIGMS

    parser.add_argument("--env", default="python", choices=["python", "appworld"], help="environment (default python)")
    parser.add_argument("--instruction", help="the task, for --env python")
    parser.add_argument("--task", help="a task id: from --tasks (python) or the AppWorld data")
    parser.add_argument("--tasks", help="a python task file (.json/.jsonl; default: the bundled tasks)")
    parser.add_argument("--paradigm", default="scaffold", choices=sorted(PARADIGMS), help="which graph (default scaffold)")
    parser.add_argument("--trace", help="write a JSONL trace of every model call and execution here")
    add_model_options(parser)


def settings_from_args(args: argparse.Namespace) -> TriroleSettings:
    """Settings from the command line, the local server's endpoint filling what is not given."""
    settings = TriroleSettings()
    if args.preset:
        settings = settings.with_preset(args.preset)
    base_url, model = args.base_url, args.model
    if not base_url or not model:
        from trirole.serving import find_local_server

        record = find_local_server()
        if record is not None:
            base_url = base_url or record.url
            model = model or (None if args.preset else record.extra.get("model"))
    updates = {
        "base_url": base_url, "model": model, "max_context_tokens": args.max_context_tokens,
        "max_completion_tokens": args.max_completion_tokens, "enable_thinking": args.thinking,
        "max_steps": args.max_steps, "correction_policy": args.correction_policy,
        "use_summarizer": False if args.no_summarizer else None, "use_corrector": False if args.no_corrector else None,
        "corrector_sees_history": True if args.corrector_sees_history else None,
    }
    return replace(settings, **{k: v for k, v in updates.items() if v is not None})


def task_from_args(args: argparse.Namespace) -> tuple[dict, dict]:
    """The task and the environment options for ``trirole run``."""
    if args.env == "appworld":
        if not args.task:
            raise SystemExit("trirole run: error: --env appworld needs --task ID (see `trirole env status appworld`)")
        return {"instruction": "", "task_id": args.task}, {}
    if args.task:
        from trirole.tools.python_tasks import BUNDLED_TASKS

        return {"instruction": "", "task_id": args.task}, {"tasks": args.tasks or str(BUNDLED_TASKS)}
    if not args.instruction:
        raise SystemExit("trirole run: error: give --instruction TEXT or --task ID")
    return {"instruction": args.instruction}, {}


async def run_command(args: argparse.Namespace) -> int:
    from trirole.backend import BackendError, check_endpoint
    from trirole.graphs import PARADIGMS
    from trirole.trace import JsonlTrace
    from trirole.transcript import print_run

    settings = settings_from_args(args)
    task, env_options = task_from_args(args)
    settings = replace(settings, env=args.env, env_options={**settings.env_options, **env_options})
    try:
        check_endpoint(settings.base_url, settings.model)
    except BackendError as exc:
        print(f"trirole run: error: {exc}", file=sys.stderr)
        return 1
    graph = PARADIGMS[args.paradigm](settings=settings)
    callbacks = [JsonlTrace(Path(args.trace))] if args.trace else []
    config = {"callbacks": callbacks, "recursion_limit": 10 * settings.max_steps + 20}
    final = await print_run(graph, {"task": task}, config=config)
    return 0 if final.get("status") == "completed" else 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
