"""The ``trirole`` command line: one argparse tree, every command and option declared here.

    trirole run      one task, its transcript printed step by step
    trirole eval     paradigms side by side on a dataset (resumable), then the report
    trirole model    serve | status | stop the local model server
    trirole env      install | serve | status | stop | tasks appworld
    trirole --version

Exit codes: 0 done, 1 failed, 2 usage (a missing or bad option). Every error is one line,
``trirole <command>: error: <what is wrong and how to fix it>``. The run-settings options
(``--max-steps``, ``--base-url``, ...) are generated from the fields of
`trirole.TriroleSettings`, so a new setting is on the command line without a copy here.
The handlers live beside what they drive (`trirole.evals.cli`, `trirole.serving.cli`,
`trirole.environments.appworld.cli`) and never import this module.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import typing
from dataclasses import fields, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Literal

from trirole.errors import TriroleError
from trirole.settings import PRESETS, TriroleSettings, normalize_base_url, recursion_limit

ENVIRONMENTS = ("appworld",)
TASK_ENVIRONMENTS = ("appworld", "bfcl")  # `trirole env install|tasks` also know BFCL


class _Parser(argparse.ArgumentParser):
    """argparse with trirole's one error format: a single line, exit code 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _version() -> str:
    try:
        return version("trirole")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _at_least(minimum: float, kind: Callable[[str], Any] = int) -> Callable[[str], Any]:
    """An argparse type: a number >= `minimum`, else a one-line usage error."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum:g} (got {text})")
        return value

    return parse


def base_url_argument(text: str) -> str:
    """argparse ``type`` of ``--base-url``: the normalized list, or argparse's one-line error."""
    try:
        return normalize_base_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- run settings, generated from TriroleSettings --------------------------------------------
def _settings_fields() -> list[tuple[str, str, Any, dict]]:
    """(field name, flag, type, cli metadata) of every setting the command line offers."""
    hints = typing.get_type_hints(TriroleSettings)
    return [(f.name, "--" + (f.metadata["cli"]["flag"] or f.name.replace("_", "-")), hints[f.name], f.metadata["cli"])
            for f in fields(TriroleSettings) if "cli" in f.metadata]


_FLAGS = {name: flag for name, flag, _, _ in _settings_fields()}
_SETTING_MENTION = re.compile(r"the setting `(\w+)`")


def flag_names(text: str) -> str:
    """`text` in the command line's words: trirole's messages name a setting as ``the
    setting `max_context_tokens```, which a command-line user sets as ``--max-context-tokens``."""
    return _SETTING_MENTION.sub(lambda m: f"`{_FLAGS[m.group(1)]}`" if m.group(1) in _FLAGS else m.group(0), text)


# Settings whose text needs more than their type to parse (a one-line error when it fails).
def _tool_specs(text: str) -> tuple[str, ...]:
    return tuple(spec.strip() for spec in text.split(",") if spec.strip())


_PARSERS: dict[str, Callable[[str], Any]] = {"base_url": base_url_argument, "tools": _tool_specs}
_METAVARS = {"tools": "MODULE:ATTR"}


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """``--preset`` and one option per `TriroleSettings` field marked for the command line."""
    defaults = TriroleSettings()
    metavars = {str: "TEXT", int: "N", float: "NUMBER"}
    groups: dict[str, Any] = {}
    for name, flag, kind, cli in _settings_fields():
        group = groups.get(cli["group"]) or groups.setdefault(cli["group"], parser.add_argument_group(cli["group"]))
        default = getattr(defaults, name)
        said = "default" in cli["help"]  # the help text tells its default itself
        if kind is bool:
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                               help=f"{cli['help']} (default {'on' if default else 'off'})")
        elif typing.get_origin(kind) is Literal:
            group.add_argument(flag, dest=name, choices=typing.get_args(kind), default=None,
                               help=f"{cli['help']} (default {default})")
        else:
            group.add_argument(flag, dest=name, type=_PARSERS.get(name, kind), default=None,
                               metavar=_METAVARS.get(name) or metavars.get(kind, "VALUE"),
                               help=cli["help"] if said else f"{cli['help']} (default {default})")
    groups["model"].add_argument("--preset", choices=sorted(PRESETS),
                                 help="the paper's Qwen3-8B settings (model, context window, thinking)")


def settings_from_args(args: argparse.Namespace) -> TriroleSettings:
    """The run settings the options ask for, the local model server filling the endpoint
    when none is given. Raises ValueError (flag names in the message) for a bad value."""
    settings = TriroleSettings()
    if args.preset:
        settings = settings.with_preset(args.preset)
    updates = {name: getattr(args, name) for name in _FLAGS if getattr(args, name, None) is not None}
    if "base_url" not in updates or "model" not in updates:
        from trirole.serving import find_local_server

        record = find_local_server()
        if record is not None:
            updates.setdefault("base_url", record.url)
            if not args.preset and record.extra.get("model"):
                updates.setdefault("model", record.extra["model"])
    try:
        return replace(settings, **updates)
    except ValueError as exc:
        message = str(exc).removeprefix("invalid trirole settings: ")
        for name in sorted(_FLAGS, key=len, reverse=True):  # say the flags the user typed
            message = message.replace(name, _FLAGS[name])
        raise ValueError(message) from None


# -- the tree ----------------------------------------------------------------------------------
def _command(sub: Any, name: str, handler: Callable[[argparse.Namespace], int] | None, *, help: str,
             description: str | None = None, settings: bool = False) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=description or help)
    parser.set_defaults(handler=handler, command_parser=parser, wants_settings=settings)
    if settings:
        add_settings_options(parser)
    return parser


def _group(sub: Any, name: str, *, help: str) -> Any:
    """A command whose subcommands do the work; alone, it is a usage error."""
    parser = _command(sub, name, None, help=help)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    parser.set_defaults(subcommands=commands)
    return commands


def _add_run(sub: Any) -> None:
    from trirole.graphs import PARADIGMS

    run = _command(sub, "run", _run, settings=True, help="run one task and print its transcript",
                   description="Run one task with a paradigm's graph and print the transcript step by step.")
    run.add_argument("--env", default="python", choices=["python", "appworld", "bfcl"],
                     help="environment (default python)")
    run.add_argument("--instruction", help="the task, for --env python")
    run.add_argument("--task", help="a task id: from --tasks (python), the AppWorld data or a BFCL entry id")
    run.add_argument("--tasks", help="a python task file (.json/.jsonl; default: the bundled tasks)")
    run.add_argument("--paradigm", default="scaffold", choices=sorted(PARADIGMS), help="which graph (default scaffold)")
    run.add_argument("--trace", help="write a JSONL trace of every model call and execution here")


def _add_eval(sub: Any) -> None:
    from trirole.evals.cli import DEFAULT_PARADIGMS, REPEAT_TEMPERATURE, eval_command
    from trirole.evals.paradigms import VARIANTS

    ev = _command(sub, "eval", eval_command, settings=True, help="evaluate paradigms on a dataset (resumable)",
                  description="Run every (paradigm, task) pair against one endpoint, N at a time. Results go to "
                              "OUT/results.jsonl, one line per finished pair; a rerun skips finished pairs. Then "
                              "OUT/report.md, results.csv and plots are written.")
    ev.add_argument("--paradigms", default=DEFAULT_PARADIGMS,
                    help=f"comma-separated, from: {', '.join(VARIANTS)} (default {DEFAULT_PARADIGMS})")
    ev.add_argument("--dataset", required=True, help="python, an AppWorld split (dev, test, train, test_normal, "
                                                     "test_challenge) or a .json/.jsonl python task file")
    ev.add_argument("--out", required=True, help="output folder (created; reused to resume)")
    ev.add_argument("--concurrency", type=_at_least(1), default=4, help="pairs in flight (default 4)")
    ev.add_argument("--limit", type=_at_least(1), help="only the first K tasks")
    ev.add_argument("--task-timeout", type=_at_least(1, float), default=900.0,
                    help="wall-clock seconds per pair before it is recorded as timeout (default 900)")
    ev.add_argument("--extend", action="store_true",
                    help="add pairs (paradigms, tasks, repeats) to the evaluation the --out folder holds; its "
                         "configuration (dataset, settings, limits) must be the folder's")
    ev.add_argument("--retry-errors", action="store_true",
                    help="also rerun the pairs recorded as infrastructure errors (environment or endpoint "
                         "failed, timeout); their new record replaces the old")
    ev.add_argument("--repeats", type=_at_least(1), default=1, metavar="K",
                    help="run each (paradigm, task) K times with sampling on; the report gives the mean and "
                         f"spread across repeats (default 1). With K > 1 the temperature is {REPEAT_TEMPERATURE} "
                         "unless --temperature is given")
    ev.add_argument("--ray", metavar="auto|ADDRESS",
                    help="run the pairs on a Ray cluster (auto: the one this machine joined; needs "
                         "trirole[ray]); --concurrency worker slots spread over its nodes")
    ev.add_argument("--check-appworld", action="store_true",
                    help="AppWorld datasets: afterwards, evaluate the run's saved outputs with AppWorld's own "
                         "evaluator too and put both in the report (exit 1 if they disagree)")


def _add_model(sub: Any) -> None:
    from trirole.serving import cli as model
    from trirole.serving.engines import ENGINE_CHOICES

    commands = _group(sub, "model", help="serve the local model (embedded CPU default, or your vllm with a preset)")
    serve = _command(commands, "serve", model.serve_command, help="start the model server (or reuse the running one)",
                     description="Without --model: the embedded SmolLM2-135M-Instruct on the CPU, on the engine "
                                 "measured faster for this CPU (without bf16 instructions llama.cpp's server, compiled "
                                 "on first use, 5-10 min; with them vLLM's CPU build in bfloat16, installed on first "
                                 "use, ~4 min / 3.5 GB; --engine picks either), serving tool calls too. With --model / "
                                 "--preset: your own `vllm serve` (GPU machines).")
    serve.add_argument("--engine", default="auto", metavar="|".join(ENGINE_CHOICES),
                       help="engine of the embedded model (default auto: the faster one for this CPU)")
    serve.add_argument("--model", help="Hugging Face model id or path for `vllm serve` "
                                       "(default: the embedded smollm2-135m-instruct)")
    serve.add_argument("--preset", choices=sorted(PRESETS), help="published vLLM settings: " + "; ".join(
        f"{p.name}: {p.description}" for p in PRESETS.values()))
    serve.add_argument("--port", type=_at_least(1), help="port (default: 8000 if free, else a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--dry-run", action="store_true", help="print the exact command, start nothing")
    serve.add_argument("--vllm", help="the vllm executable for --model/--preset (default: `vllm` on PATH)")
    serve.add_argument("--served-model-name", help="model name the API answers to")
    serve.add_argument("--timeout", type=_at_least(1, float), help="seconds to wait until the server is ready")
    status = _command(commands, "status", model.status_command, help="is the model server running, where, which model")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    _command(commands, "stop", model.stop_command, help="stop the model server")


def _add_env(sub: Any) -> None:
    from trirole.environments.appworld import cli as env

    commands = _group(sub, "env", help="start, inspect and stop environment servers (AppWorld)")

    def env_command(name: str, handler: Callable, help: str, bfcl: Callable | None = None) -> argparse.ArgumentParser:
        if bfcl is not None:
            appworld_handler = handler

            def handler(args: argparse.Namespace) -> int:
                return (bfcl if args.name == "bfcl" else appworld_handler)(args)

        parser = _command(commands, name, handler, help=help)
        parser.add_argument("name", nargs="?", choices=TASK_ENVIRONMENTS if bfcl else ENVIRONMENTS,
                            default=ENVIRONMENTS[0],
                            help=f"the environment (default {ENVIRONMENTS[0]}, the only one with a server)")
        return parser

    from trirole.environments.bfcl import cli as bfcl

    env_command("install", env.install_command, "install AppWorld or BFCL in its own venv (1-3 min, needs PyPI)",
                bfcl=bfcl.install_command)
    serve = env_command("serve", env.serve_command, "start the environment server (installs AppWorld on first use)")
    serve.add_argument("--port", type=_at_least(1), help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--root", help="data root holding data/ (default: $APPWORLD_ROOT, else the offline task pack)")
    serve.add_argument("--timeout", type=_at_least(1, float), default=180, help="seconds to wait for it to be ready")
    status = env_command("status", env.status_command, "is the server running, where, with which data")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    env_command("stop", env.stop_command, "stop the server")
    tasks = env_command("tasks", env.tasks_command, "list the task ids of a split", bfcl=bfcl.tasks_command)
    tasks.add_argument("--dataset", help="AppWorld: train, dev, test_normal, test_challenge (default: dev); BFCL: "
                                         "bfcl:CATEGORY, bfcl:single-turn or bfcl:multi-turn (default: single-turn)")
    tasks.add_argument("--root", help="data root (default: the running server's, else as serve)")
    tasks.add_argument("--details", action="store_true", help="also print difficulty and instruction")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trirole", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"trirole {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    parser.set_defaults(handler=None, command_parser=parser, wants_settings=False, subcommands=sub)
    for add in (_add_run, _add_eval, _add_model, _add_env):
        add(sub)
    return parser


# -- trirole run ---------------------------------------------------------------------------------
def _run(args: argparse.Namespace) -> int:
    from trirole.backend import check_endpoint
    from trirole.evals.oracle import ORACLE, TASK_METADATA, OracleChatModel, OracleError
    from trirole.graphs import PARADIGMS
    from trirole.trace import JsonlTrace
    from trirole.transcript import TranscriptPrinter, print_run

    if args.env in ("appworld", "bfcl"):
        if not args.task:
            args.command_parser.error(f"--env {args.env} needs --task ID (list them: trirole env tasks {args.env})")
        task, env_options = {"instruction": "", "task_id": args.task}, {}
    elif args.task:
        from trirole.environments.python_tasks import BUNDLED_TASKS

        task, env_options = {"instruction": "", "task_id": args.task}, {"tasks": args.tasks or str(BUNDLED_TASKS)}
    elif args.instruction:
        task, env_options = {"instruction": args.instruction}, {}
    else:
        args.command_parser.error("give --instruction TEXT or --task ID")
    settings = replace(args.settings, env=args.env, env_options={**args.settings.env_options, **env_options})
    options: dict = {}
    if settings.model == ORACLE:
        if args.env == "bfcl":
            from trirole.evals.oracle import bfcl_oracle

            options["model"] = bfcl_oracle([args.task])
        elif args.env != "appworld":
            raise OracleError("the oracle needs ground-truth solutions, and python tasks have none; "
                              "use it with --env appworld --task ID or --env bfcl --task ID")
        else:
            options["model"] = OracleChatModel.for_appworld()
    else:
        check_endpoint(settings.base_url, settings.model)
    if args.env == "bfcl":
        from trirole.environments.bfcl.data import category_of, is_multi_turn
        from trirole.environments.bfcl.environment import SINGLE_TURN_PROMPTS
        from trirole.prompts import substitutes

        if not is_multi_turn(category_of(args.task)):  # the prompts an evaluation of it uses
            options["prompts"] = substitutes(SINGLE_TURN_PROMPTS)
        from trirole.evals.datasets import Dataset, EvalTask
        from trirole.evals.prompt_fit import check_prompts_fit

        entry = Dataset(name=args.task, env="bfcl", tasks=(EvalTask(id=args.task, env="bfcl"),))
        asyncio.run(check_prompts_fit(entry, entry.tasks, settings, options))  # function docs are never clipped
    graph = PARADIGMS[args.paradigm](settings=settings, **options)
    callbacks = [JsonlTrace(Path(args.trace))] if args.trace else []
    final = asyncio.run(print_run(graph, {"task": task}, printer=TranscriptPrinter(reword=flag_names),
                                  config={"callbacks": callbacks, "recursion_limit": recursion_limit(settings),
                                          "metadata": {TASK_METADATA: task.get("task_id", "")}}))
    return 0 if final.get("status") == "completed" else 1


# -- entry point -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the command; the exit code (usage errors included, as 2)."""
    try:
        args = _parse(argv)
    except SystemExit as exc:  # usage errors and --help/--version, as codes (tests call main)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.handler(args) or 0)
    except SystemExit as exc:  # a usage error found by the handler
        return exc.code if isinstance(exc.code, int) else 2
    except TriroleError as exc:
        print(f"{args.command_parser.prog}: error: {flag_names(' '.join(str(exc).split()))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("trirole: interrupted (rerun the same command to resume an evaluation)", file=sys.stderr)
        return 130


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """The parsed command with its settings built; usage errors exit 2."""
    args = build_parser().parse_args(argv)
    if args.handler is None:  # `trirole` or `trirole model` alone: which command?
        args.command_parser.error(f"choose a command: {', '.join(args.subcommands.choices)}")
    if args.wants_settings:
        try:
            args.settings = settings_from_args(args)
            if args.settings.tools:  # importable and usable, before anything starts
                from trirole.environments.user_tools import Toolbox, load_tools

                sys.path.insert(0, os.getcwd())  # `--tools my_tools:TOOLS` finds ./my_tools.py, as `python -m` would
                Toolbox(load_tools(args.settings.tools))
        except (ValueError, TypeError) as exc:
            args.command_parser.error(str(exc).replace("tools: ", "--tools: ", 1))
    return args


if __name__ == "__main__":
    sys.exit(main())
