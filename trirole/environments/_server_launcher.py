"""Starts an environment server (AppWorld's) confined by bubblewrap.

Standalone on purpose (it imports nothing from trirole; run by the environment's own
interpreter): it sets the limits, becomes an unprivileged uid of its own (so no process of
the server's keeps root's rights), then runs the server's module in this process. The
server runs no agent code (that runs in the python sandbox); the limits and the uid bound
what a fault of the server's could take.

Usage: python _server_launcher.py CONFIG_JSON MODULE ARG...   (as ``python -m MODULE ARG...``)
    CONFIG_JSON holds memory_mb, nproc, nofile, fsize_mb (null: left as it is) and uid
    (null: stay as this uid).
"""

import json
import os
import resource
import runpy
import sys


def _set_limit(which, value):
    if value is None:
        return
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def main():
    config = json.loads(sys.argv[1])
    module, args = sys.argv[2], sys.argv[3:]
    mb = 1024 * 1024
    _set_limit(resource.RLIMIT_AS, config["memory_mb"] * mb if config.get("memory_mb") else None)
    _set_limit(resource.RLIMIT_FSIZE, config["fsize_mb"] * mb if config.get("fsize_mb") else None)
    _set_limit(resource.RLIMIT_NPROC, config.get("nproc"))
    _set_limit(resource.RLIMIT_NOFILE, config.get("nofile"))
    if config.get("uid") is not None:
        os.setgroups([])
        os.setgid(config["uid"])
        os.setuid(config["uid"])
    sys.path.pop(0)  # the launcher's folder
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
