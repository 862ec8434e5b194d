"""Starts an environment server that runs agent code (AppWorld's), confined by bubblewrap.

Standalone on purpose (it imports nothing from trirole; run by the environment's own
interpreter): it sets the limits, becomes an unprivileged uid of its own (so no process of
the server's keeps root's rights), then runs the server's module in this process.

Usage: python _server_launcher.py CONFIG_JSON MODULE ARG...   (as ``python -m MODULE ARG...``)
    CONFIG_JSON holds memory_mb, nproc, nofile, fsize_mb (null: left as it is), uid
    (null: stay as this uid) and run_code ("module:Class.method", the server's method that
    runs one step of agent code).

Three guards against the processes agent code forks (``os.fork``, a fork loop): SIGCHLD
is ignored, so the kernel reaps them once they are stopped (they never linger as zombies
that use up the process limit); a forked copy of the server closes its sockets at once,
so it can never answer a request in the server's place or write into its replies; and it
exits when the agent's code returns (`run_code`), before the server's own code (saving
the episode's state) could run in it.
"""

import json
import os
import resource
import runpy
import signal
import stat
import sys


def _set_limit(which, value):
    if value is None:
        return
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


# The functions themselves, taken now: AppWorld's guard replaces os.listdir, os._exit and
# others by no-ops while agent code runs, which is when these run.
_listdir, _fstat, _close, _exit, _getpid = os.listdir, os.fstat, os.close, os._exit, os.getpid
_is_socket = stat.S_ISSOCK


def _close_sockets():
    """In a forked copy of the server: close every socket it inherited (the listening one,
    the connections), leaving it only the agent's code to run."""
    for name in _listdir("/proc/self/fd"):
        try:
            fd = int(name)
            if _is_socket(_fstat(fd).st_mode):
                _close(fd)
        except (ValueError, OSError):
            pass


def _end_forks_after(target, server_pid):
    """Wrap `target` ("module:Class.method"): a forked copy of the server that returns
    from it exits there (as the python worker's `_end_forked_child`)."""
    import importlib

    module_name, qualname = target.split(":")
    owner_name, method_name = qualname.rsplit(".", 1)
    owner = importlib.import_module(module_name)
    for part in owner_name.split("."):
        owner = getattr(owner, part)
    method = getattr(owner, method_name)

    def guarded(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        finally:
            if _getpid() != server_pid:
                _exit(0)

    setattr(owner, method_name, guarded)


def main():
    config = json.loads(sys.argv[1])
    module, args = sys.argv[2], sys.argv[3:]
    mb = 1024 * 1024
    _set_limit(resource.RLIMIT_AS, config["memory_mb"] * mb if config.get("memory_mb") else None)
    _set_limit(resource.RLIMIT_FSIZE, config["fsize_mb"] * mb if config.get("fsize_mb") else None)
    _set_limit(resource.RLIMIT_NPROC, config.get("nproc"))
    _set_limit(resource.RLIMIT_NOFILE, config.get("nofile"))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    if config.get("uid") is not None:
        os.setgroups([])
        os.setgid(config["uid"])
        os.setuid(config["uid"])
    os.register_at_fork(after_in_child=_close_sockets)
    sys.path.pop(0)  # the launcher's folder
    if config.get("run_code"):
        _end_forks_after(config["run_code"], os.getpid())
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
