"""The sync entry points of a compiled trirole graph (``invoke``, ``stream``, ``batch``).

Every trirole node is async, and LangGraph's sync loop cannot run async nodes. A sync
call therefore runs the graph's own ``astream`` in a private event loop on a thread of
its own and hands each item back as it comes: the same run, the same episode owned and
closed by the run (`trirole.graphs.loop.TriroleGraph`), the same items in the same order.
It works from any thread, an event loop's included (a Jupyter cell): the run never
shares the caller's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from typing import Any, AsyncIterator, Callable, Iterator

_END = object()


def iterate_in_thread(make: Callable[[], AsyncIterator[Any]]) -> Iterator[Any]:
    """Iterate the async iterator `make()` from sync code, one item per request as an
    ``async for`` would (the run waits while the caller handles an item). Closing the
    iterator early (a ``break``, an exception, Ctrl-C in the caller) cancels the run and
    waits until it has cleaned up (its episode closed) before returning."""
    items: queue.SimpleQueue = queue.SimpleQueue()
    ready = threading.Event()
    running: dict[str, Any] = {}

    async def pump() -> None:
        demand = asyncio.Event()  # set by the caller's thread when it wants the next item
        running.update(task=asyncio.current_task(), loop=asyncio.get_running_loop(), demand=demand)
        ready.set()
        try:
            async with contextlib.aclosing(make()) as stream:
                async for item in stream:
                    items.put((True, item))
                    await demand.wait()
                    demand.clear()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            items.put((False, exc))
        else:
            items.put((False, _END))

    def run() -> None:
        try:
            asyncio.run(pump())
        except BaseException as exc:  # noqa: BLE001 - e.g. the loop itself failed to start
            items.put((False, exc))
        finally:
            ready.set()

    # The caller's context (LangChain's tracing context, LangGraph's parent config) goes along.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,), name="trirole-sync-run",
                              daemon=True)
    thread.start()
    finished = False
    try:
        while True:
            ok, value = items.get()
            if ok:
                yield value
                _call_in_loop(running, lambda: running["demand"].set())
                continue
            finished = True
            if value is _END:
                return
            if isinstance(value, asyncio.CancelledError):
                raise RuntimeError("the trirole run was cancelled") from value
            raise value
    finally:
        if not finished:
            ready.wait()
            _call_in_loop(running, lambda: running["task"].cancel())
        thread.join()


def _call_in_loop(running: dict[str, Any], callback: Callable[[], Any]) -> None:
    try:
        running["loop"].call_soon_threadsafe(callback)
    except (KeyError, RuntimeError):  # the loop never started, or already closed: the run is over
        pass
