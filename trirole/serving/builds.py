"""Things built once into a folder under ``trirole_home()`` and reused: the embedded model's
checkpoint for vLLM, llama.cpp's server compiled for this CPU.

`build_once` runs a build command (in a venv of its own, output appended to a log) into a
temporary folder, renames it into place when it produced what it should, and stamps it
with a key of everything the result depends on. A later call with the same key returns at
once; another key (a new version, a changed build script, another CPU) builds again. One
builder at a time across processes; a failed or interrupted build leaves nothing that a
later call would take for built.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping

from trirole.errors import TriroleError
from trirole.paths import file_lock, home_subdir
from trirole.serving.process import log_tail
from trirole.serving.setup_progress import SetupProgress

__all__ = ["BuildError", "build_once", "built", "read_build_stamp"]

STAMP_NAME = ".trirole-stamp.json"


class BuildError(TriroleError, RuntimeError):
    """A build failed: the first line says what failed, the log and the fix; the log's last
    lines follow."""


def read_build_stamp(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None


def built(folder: Path, key: str, product: str) -> bool:
    """Whether `folder` holds `product` built under `key`."""
    stamp = read_build_stamp(folder)
    return bool(stamp) and stamp.get("key") == key and (Path(folder) / product).exists()


def build_once(out: Path, *, key: str, product: str, command: Callable[[Path], list[str]], log_path: Path,
               what: str, title: str, fix: str, env: Mapping[str, str] | None = None,
               error: type[BuildError] = BuildError) -> Path:
    """`out`, built by ``command(folder)`` unless already built under `key`.

    product: the file the build must leave in its folder (``config.json``, ``llama-server``);
    what: the thing built, for messages (``llama.cpp's server``); title: the first line shown
    while it builds (what, where, about how long); fix: what to do when it fails; env: the
    command's environment (default this process's, without PYTHONPATH/VIRTUAL_ENV)."""
    if built(out, key, product):
        return out
    with file_lock(home_subdir("locks") / f"build-{out.name}.lock"):
        if built(out, key, product):  # another process built it meanwhile
            return out
        tmp = out.with_name(out.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        argv = command(tmp)
        run_env = dict(env) if env is not None else {
            k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        t0 = time.monotonic()
        shown = SetupProgress(out.name, title, 1)
        with shown, shown.stage(f"build {what}", log_path=log_path):
            with open(log_path, "a") as log:
                log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {shlex.join(argv)}\n")
                log.flush()
                rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=run_env).returncode
            if rc != 0 or not (tmp / product).exists():
                shutil.rmtree(tmp, ignore_errors=True)
                tail = log_tail(log_path, 15)
                last = next((line.strip() for line in reversed(tail.splitlines())
                             if line.strip() and not line.startswith("===")), "")
                raise error(f"building {what} failed (exit code {rc}){': ' + last if last else ''}. Log: {log_path}. "
                            f"{fix}" + (f"\n--- last lines of the log ---\n{tail}" if tail else ""))
        (tmp / STAMP_NAME).write_text(json.dumps({
            "key": key, "built_at": time.time(), "build_s": round(time.monotonic() - t0, 2),
            "log": str(log_path)}, indent=2))
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    return out
