"""``trirole env ...``: start, inspect and stop environment servers (AppWorld).

    trirole env install appworld
    trirole env serve appworld [--port P] [--root DIR]
    trirole env status appworld [--json]
    trirole env stop appworld
    trirole env tasks appworld [--dataset dev] [--root DIR] [--details]

Errors print one line to stderr and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Callable

ENVIRONMENTS = ("appworld",)


def _fail(exc: BaseException) -> int:
    text = str(exc).strip().splitlines()
    print(f"error: {text[0] if text else type(exc).__name__}", file=sys.stderr)
    return 1


def _guard(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except KeyboardInterrupt:
            return 130
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            return _fail(exc)

    run.__doc__ = handler.__doc__
    return run


@_guard
def _install(args: argparse.Namespace) -> int:
    from trirole.tools.appworld.install import appworld_bin, ensure_appworld_env

    started = time.monotonic()
    venv = ensure_appworld_env()
    print(f"AppWorld is installed in {venv} ({time.monotonic() - started:.1f} s); its CLI: {appworld_bin()}")
    return 0


@_guard
def _serve(args: argparse.Namespace) -> int:
    from trirole.serving.process import read_record
    from trirole.tools.appworld.server import serve_appworld

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


@_guard
def _status(args: argparse.Namespace) -> int:
    from trirole.tools.appworld.server import appworld_status

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


@_guard
def _stop(args: argparse.Namespace) -> int:
    from trirole.tools.appworld.server import stop_appworld

    print("AppWorld environment server stopped" if stop_appworld() else "AppWorld environment server was not running")
    return 0


@_guard
def _tasks(args: argparse.Namespace) -> int:
    from trirole.tools.appworld.data import list_tasks, task_metadata

    ids = list_tasks(args.dataset, root=args.root)
    for task_id in ids:
        if args.details:
            meta = task_metadata(task_id, root=args.root)
            print(f"{task_id}\tdifficulty={meta.get('difficulty')}\t{meta.get('instruction', '')}")
        else:
            print(task_id)
    print(f"{len(ids)} tasks in {args.dataset}", file=sys.stderr)
    return 0


def add_env_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``env install|serve|status|stop|tasks appworld`` under `subparsers`."""
    env = subparsers.add_parser("env", help="start, inspect and stop environment servers (AppWorld)",
                                description="Environment servers: AppWorld runs in its own venv behind HTTP.")
    actions = env.add_subparsers(dest="env_command", metavar="{install,serve,status,stop,tasks}")
    env.set_defaults(func=lambda args: (env.print_help(sys.stderr), 1)[1])

    install = actions.add_parser("install", help="install AppWorld in its own venv (about 1 min, needs PyPI)")
    install.add_argument("name", choices=ENVIRONMENTS)
    install.set_defaults(func=_install)

    serve = actions.add_parser("serve", help="start the environment server (installs AppWorld on first use)")
    serve.add_argument("name", choices=ENVIRONMENTS)
    serve.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--root", default=None,
                       help="data root holding data/ (default: $APPWORLD_ROOT, else the offline task pack)")
    serve.add_argument("--timeout", type=float, default=180, help="seconds to wait for it to be ready")
    serve.set_defaults(func=_serve)

    status = actions.add_parser("status", help="is the server running, where, with which data")
    status.add_argument("name", choices=ENVIRONMENTS)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=_status)

    stop = actions.add_parser("stop", help="stop the server")
    stop.add_argument("name", choices=ENVIRONMENTS)
    stop.set_defaults(func=_stop)

    tasks = actions.add_parser("tasks", help="list the task ids of a split")
    tasks.add_argument("name", choices=ENVIRONMENTS)
    tasks.add_argument("--dataset", default="dev", help="train, dev, test_normal, test_challenge (default: dev)")
    tasks.add_argument("--root", default=None, help="data root (default: the running server's, else as serve)")
    tasks.add_argument("--details", action="store_true", help="also print difficulty and instruction")
    tasks.set_defaults(func=_tasks)
    return env


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m trirole.tools.appworld.cli env ...``)."""
    parser = argparse.ArgumentParser(prog="trirole")
    add_env_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 1
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
