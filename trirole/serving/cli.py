"""The handlers of ``trirole model serve|status|stop`` (the options are declared in
`trirole.cli`). Failures raise `trirole.errors.TriroleError`; the command line prints them."""

from __future__ import annotations

import argparse
import json


def serve_command(args: argparse.Namespace) -> int:
    from trirole.serving.local_model import serve

    result = serve(model=args.model, preset=args.preset, port=args.port, host=args.host, dry_run=args.dry_run,
                   served_model_name=args.served_model_name, vllm=args.vllm, timeout_s=args.timeout,
                   engine=args.engine)
    if not args.dry_run:
        print(f"url:    {result.url}")
        print(f"model:  {result.extra.get('model')}")
        print(f"engine: {result.extra.get('engine', 'vllm')}")
        print(f"log:    {result.log_path}")
    return 0


def status_command(args: argparse.Namespace) -> int:
    """Exit 0 when a server runs, 1 when none does (scripts can test for it)."""
    from trirole.serving.local_model import status

    info = status()
    if args.json:
        print(json.dumps(info, indent=2))
    elif not info["running"]:
        print("no model server running (start one: trirole model serve)")
    else:
        state = "answering" if info["answering"] else "NOT answering"
        print(f"running ({state}), pid {info['pid']}, up {info['uptime_s']:.0f} s")
        print(f"url:    {info['url']}")
        print(f"model:  {info['model']}")
        print(f"engine: {info['engine']}")
        print(f"log:    {info['log_path']}")
    return 0 if info["running"] else 1


def stop_command(args: argparse.Namespace) -> int:
    from trirole.serving.local_model import stop

    print("stopped the model server" if stop() else "no model server was running")
    return 0
