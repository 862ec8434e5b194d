"""What `trirole eval` shows while it runs: pairs done of total, solved so far per
paradigm, elapsed and time left.

In a terminal it is a live rich progress bar with one line per finished pair above it; when
the output is not a terminal (CI logs, a file) each finished pair is one plain line that
carries the same figures, so a log read later tells as much as the screen did.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, Iterable, Mapping, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class EvalProgress:
    """Progress of one evaluation, written to `stream` (default stderr); a context manager.

    paradigms: in report order. total: pairs of the evaluation. previous: the records
    already in results.jsonl (they count as done, and their successes as solved).
    enabled: False prints nothing (library use, tests).
    """

    def __init__(self, paradigms: Iterable[str], *, total: int, previous: Iterable[Mapping[str, Any]] = (),
                 enabled: bool = True, stream: TextIO | None = None) -> None:
        self.paradigms = list(paradigms)
        self.total = total
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.done = Counter()
        self.solved = Counter()
        for record in previous:
            self._count(record)
        self.done_before = sum(self.done.values())
        self._started = time.monotonic()
        self._bar: Progress | None = None
        self._bar_task: Any = None

    # -- the figures ---------------------------------------------------------------------------
    def _count(self, record: Mapping[str, Any]) -> None:
        self.done[record["paradigm"]] += 1
        self.solved[record["paradigm"]] += record.get("success") is True

    def tally(self) -> str:
        """Solved so far per paradigm, e.g. ``base 0/3 · scaffold 1/3``."""
        return " · ".join(f"{p} {self.solved[p]}/{self.done[p]}" for p in self.paradigms)

    def time_left(self) -> float | None:
        """Seconds left at this run's pace (None before its first pair)."""
        ran = sum(self.done.values()) - self.done_before
        if ran == 0:
            return None
        return (time.monotonic() - self._started) / ran * (self.total - sum(self.done.values()))

    # -- display -------------------------------------------------------------------------------
    def __enter__(self) -> "EvalProgress":
        if self.enabled and self.stream.isatty():
            console = Console(file=self.stream, highlight=False)
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"),
                                 TimeRemainingColumn(), console=console, transient=False)
            self._bar.start()
            self._bar_task = self._bar.add_task(self.tally() or "pairs", total=self.total,
                                                completed=self.done_before)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def note(self, message: str) -> None:
        """A message about the evaluation (servers started, a resumed folder, ...)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(message, markup=False)
        else:
            print(message, file=self.stream, flush=True)

    def pair_done(self, record: Mapping[str, Any]) -> None:
        """One finished pair: counted, shown."""
        if record.get("retried_after"):
            self.note(f"{record['paradigm']} {record['task_id']}: its environment server died "
                      f"({record['retried_after']}); the server was replaced and the pair ran again")
        self._count(record)
        if not self.enabled:
            return
        done = sum(self.done.values())
        repeat = f" r{record['repeat']}" if record.get("repeat") else ""
        line = (f"[{done}/{self.total}] {record['paradigm']} {record['task_id']}{repeat}: {record['status']} "
                f"success={record.get('success')} steps={record.get('steps', 0)} {record.get('wall_s', 0):.1f}s")
        if self._bar is not None:
            self._bar.console.print(line, markup=False)
            self._bar.update(self._bar_task, advance=1, description=self.tally())
            return
        left = self.time_left()
        print(f"{line} | solved {self.tally()} | elapsed {_duration(time.monotonic() - self._started)}"
              + (f", about {_duration(left)} left" if left is not None else ""), file=self.stream, flush=True)
