"""The handlers of ``trirole env install|serve|status|stop|tasks appworld`` (the options are
declared in `trirole.cli`). Failures raise `trirole.errors.TriroleError` (AppWorld's errors
derive from it); the command line prints them in one line."""

from __future__ import annotations

import argparse
import json
import sys
import time


def install_command(args: argparse.Namespace) -> int:
    from trirole.environments.appworld.install import appworld_bin, ensure_appworld_env

    started = time.monotonic()
    venv = ensure_appworld_env()
    print(f"AppWorld is installed in {venv} ({time.monotonic() - started:.1f} s); its CLI: {appworld_bin()}")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    from trirole.serving.process import read_record
    from trirole.environments.appworld.server import serve_appworld

    already = read_record("appworld")
    started = time.monotonic()
    record = serve_appworld(port=args.port, root=args.root, timeout_s=args.timeout)
    verb = "already running" if already is not None and already.pid == record.pid else \
        f"started in {time.monotonic() - started:.1f} s"
    print(f"AppWorld environment server {verb}: {record.url} (pid {record.pid})")
    print(f"  data root: {record.extra.get('root')}")
    print(f"  log: {record.log_path}")
    print("  stop it with: trirole env stop appworld")
    return 0


def status_command(args: argparse.Namespace) -> int:
    """Exit 0 when the server runs and responds, 1 otherwise."""
    from trirole.environments.appworld.server import appworld_status

    status = appworld_status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0 if status["running"] else 1
    if not status["running"]:
        installed = "installed" if status["installed"] else "not installed"
        print(f"AppWorld environment server: not running (AppWorld {installed} at {status['venv']}); "
              "start it with: trirole env serve appworld")
        return 1
    health = "responding" if status["responding"] else "NOT responding"
    use = "an episode runs on it" if status["in_use"] else "free"
    print(f"AppWorld environment server: running at {status['url']} (pid {status['pid']}, {health}, {use}, "
          f"up {status['uptime_s']:.0f} s)")
    print(f"  data root: {status['root']}")
    print(f"  log: {status['log_path']}")
    return 0 if status["responding"] else 1


def stop_command(args: argparse.Namespace) -> int:
    from trirole.environments.appworld.server import stop_appworld

    print("AppWorld environment server stopped" if stop_appworld() else "AppWorld environment server was not running")
    return 0


def tasks_command(args: argparse.Namespace) -> int:
    from trirole.environments.appworld.data import list_tasks, task_metadata

    args.dataset = args.dataset or "dev"
    ids = list_tasks(args.dataset, root=args.root)
    for task_id in ids:
        if args.details:
            meta = task_metadata(task_id, root=args.root)
            print(f"{task_id}\tdifficulty={meta.get('difficulty')}\t{meta.get('instruction', '')}")
        else:
            print(task_id)
    print(f"{len(ids)} tasks in {args.dataset}", file=sys.stderr)
    return 0
