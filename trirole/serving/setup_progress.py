"""What a long set-up shows while it runs: a venv's install (vLLM, AppWorld, BFCL, any
engine built with `trirole.serving.venvs.ensure_venv`), the embedded model's checkpoint
build, a server's start.

A set-up is a few stages, each a command whose output goes to a log file. In a terminal
the current stage is a live line on stderr: which stage of how many, how long it has run,
the packages pip has collected so far (of how many, when the requirements are a complete
lock) and the last line of its log (what it is doing now); each finished stage stays as a
line with its duration. When stderr is not a terminal (CI logs, files) each stage is one
plain line when it starts, so a log read later says what ran and in what order, and a
last line says how long the whole set-up took.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, TextIO

from rich.console import Console, RenderableType
from rich.progress import (BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn,
                           TimeElapsedColumn)
from rich.table import Column
from rich.text import Text

__all__ = ["SetupProgress"]

_POLL_S = 0.2
_LINE_END = re.compile(r"\r\n|[\r\n]")  # progress bars (tqdm) redraw their line with \r


def _seconds(value: float) -> str:
    value = int(round(value))
    return f"{value} s" if value < 120 else f"{value // 60} min {value % 60:02d} s"


def _resolved(line: str) -> str | None:
    """The distribution a line of pip's output starts on, normalized, or None. pip writes one
    at the line's start per requirement it resolves: ``Collecting name==1.0 (from ...)`` from
    an index, ``Processing /folder/name-1.0-py3-none-any.whl`` from a local file; a name may
    come back with extras (``Collecting name[extra]<2``), so callers count distinct names."""
    if line.startswith("Collecting "):
        name = re.split(r"[\s\[=<>!~;(@]", line[len("Collecting "):], maxsplit=1)[0]
    elif line.startswith("Processing "):
        name = Path(line[len("Processing "):].split()[0]).name.split("-")[0]
    else:
        return None
    return re.sub(r"[-_.]+", "-", name).lower() or None


def _packages(collected: int, total: int | None) -> str:
    """``37/118 packages`` (the lock's), ``37 packages`` (pip resolves the rest), or nothing yet."""
    if not collected:
        return ""
    return f"{collected}/{total} packages" if total else f"{collected} package{'s' if collected > 1 else ''}"


class _Cropped(ProgressColumn):
    """The stage's description, cut to the width the other columns leave (they are never cut)."""

    def render(self, task: Task) -> Text:
        return Text(task.description, no_wrap=True, overflow="ellipsis")


class _StageLines(Progress):
    """rich's progress line of the stage, and under it what the stage does now (its log's last line)."""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            if task.fields.get("doing"):
                yield Text(f"  {task.fields['doing']}", no_wrap=True, overflow="ellipsis", style="dim")


class SetupProgress:
    """The display of one set-up, a context manager over its stages.

    name: what is set up, short (``vllm-env``); title: the sentence shown first (what,
    where, roughly how long), and a last line with the time it took; None for neither (a
    step inside the caller's own messages); stages: how many stages it will run (for "[2/4]").
    enabled: False shows nothing. stream: default stderr. terminal: the live form or the
    plain one (default: whether `stream` is a terminal).
    """

    def __init__(self, name: str, title: str | None, stages: int, *, enabled: bool = True,
                 stream: TextIO | None = None, terminal: bool | None = None) -> None:
        self.name = name
        self.title = title
        self.stages = stages
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self._index = 0
        self._started = 0.0
        self._live: Progress | None = None

    # -- the whole set-up ----------------------------------------------------------------------
    def __enter__(self) -> "SetupProgress":
        self._started = time.monotonic()
        if not self.enabled:
            return self
        if self.terminal:
            console = Console(file=self.stream, highlight=False, force_terminal=True)
            self._live = _StageLines(
                SpinnerColumn(), _Cropped(table_column=Column(ratio=1)), BarColumn(bar_width=10),
                TextColumn("{task.fields[count]}", table_column=Column(no_wrap=True)), TimeElapsedColumn(),
                console=console, transient=True, refresh_per_second=4)
            self._live.start()
        if self.title:
            self._say(f"trirole: {self.title}")
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self.enabled and self.title and exc_type is None:
            self._say(f"trirole: {self.name} ready in {_seconds(time.monotonic() - self._started)}")

    def _say(self, line: str) -> None:
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    # -- one stage -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def stage(self, description: str, *, log_path: Path | None = None, total: int | None = None) -> Iterator[None]:
        """One stage: shown while the block runs. `log_path`: the file its command writes
        (followed for the live line: its last line, pip's packages collected); `total`:
        the packages pip will collect, when known."""
        self._index += 1
        label = f"{self.name}: " + (f"[{self._index}/{self.stages}] " if self.stages > 1 else "") + description
        if not self.enabled:
            yield
            return
        started = time.monotonic()
        live, task, stop = self._live, None, threading.Event()
        follower = None
        if live is None:
            self._say(f"trirole: {label}")
        else:
            task = live.add_task(label, total=total, count="", doing="")
            if log_path is not None:
                offset = log_path.stat().st_size if log_path.exists() else 0
                follower = threading.Thread(target=self._follow, args=(log_path, offset, task, total, stop),
                                            daemon=True)
                follower.start()
        try:
            yield
        except BaseException:
            self._say(f"trirole: {label}: failed after {_seconds(time.monotonic() - started)}")
            raise
        else:
            if live is not None:  # the live line goes; what it was stays, with its duration
                self._say(f"trirole: {label}: done in {_seconds(time.monotonic() - started)}")
        finally:
            stop.set()
            if follower is not None:
                follower.join()
            if task is not None:
                live.remove_task(task)

    def _follow(self, log_path: Path, offset: int, task: TaskID, total: int | None, stop: threading.Event) -> None:
        """Tail `log_path` from `offset` until `stop`: the live line's last log line and
        count of packages collected."""
        live = self._live
        assert live is not None
        pending, collected = "", set()
        decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        while not stop.wait(_POLL_S):
            try:
                with open(log_path, "rb") as log:
                    log.seek(offset)
                    chunk = log.read()
            except OSError:
                continue
            offset += len(chunk)
            *lines, pending = _LINE_END.split(pending + decode(chunk))
            # Not the log's own markers (venvs._run's "===" lines) nor warnings: what it is doing.
            shown = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith(("===", "WARNING"))]
            if not shown:
                continue
            collected.update(filter(None, map(_resolved, lines)))
            live.update(task, completed=len(collected), count=_packages(len(collected), total), doing=shown[-1])
