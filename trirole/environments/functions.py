"""Host functions: Python functions the agent's code calls in the sandbox but that run in
the trirole process (where the user's credentials and network are).

A `HostFunction` is what the python sandbox needs to offer one such function: its name,
its parameters (so the sandbox's stub has the real signature and binds positional
arguments to their names), the signature text and docstring shown to the agent, and an
async callable ``(arguments: dict) -> JSON value`` that trirole runs for each call, within
the function's timeout. `HostFunction.from_callable` builds one from a plain Python
function (sync or async); `trirole.environments.user_tools` builds them from LangChain tools and
MCP servers.

How a call crosses (`trirole.environments.python_sandbox`): the agent's code calls the stub; the
worker sends ``{"op": "call", "name", "arguments"}`` over its private channel (the same
JSON lines as every other request, never a socket: the sandbox has no network); trirole
runs the function and replies with its result, or with an error the stub raises in the
agent's code as ``ToolError``. Arguments and results cross as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import keyword
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

DEFAULT_TOOL_TIMEOUT_S = 30.0

RESERVED_NAMES = frozenset({"context", "complete_task", "ToolError", "__trirole_record__", "__trirole_files__"})
"""Names the sandbox itself defines in the agent's globals."""

_KINDS = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD", "VAR_POSITIONAL", "KEYWORD_ONLY", "VAR_KEYWORD")

@dataclass(frozen=True)
class HostFunction:
    """One function the agent's code calls by `name`, run in the trirole process.

    call: ``await call(arguments)`` runs it; `arguments` maps parameter names to JSON
        values (only those the agent passed; defaults are the function's own). It returns
        a JSON-serialisable value or raises (the agent's code gets ``ToolError``).
    parameters: ``{"name": str, "kind": inspect.Parameter kind name, "default": repr
        text}`` (``default`` only for parameters that have one), in order.
    signature: the signature text shown to the agent, e.g. ``(query: str, k: int = 3) -> str``.
    doc: the docstring shown to the agent (and set on the stub, for ``help()``).
    timeout_s: seconds one call may take (``None``: the sandbox's default).
    """

    name: str
    call: Callable[[dict[str, Any]], Awaitable[Any]]
    parameters: tuple[Mapping[str, str], ...] = ()
    signature: str = "()"
    doc: str = ""
    timeout_s: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_function_name(self.name)
        for parameter in self.parameters:
            if parameter.get("kind") not in _KINDS or not str(parameter.get("name", "")).isidentifier():
                raise ValueError(f"host function {self.name!r}: bad parameter {dict(parameter)!r}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError(f"host function {self.name!r}: timeout_s must be > 0 (got {self.timeout_s})")

    def describe(self) -> dict[str, Any]:
        """What the sandbox's worker needs to define the stub."""
        return {"name": self.name, "parameters": [dict(p) for p in self.parameters], "doc": self.doc}

    def reference(self) -> str:
        """The function as the agent and the corrector read it: a ``def`` line and its docstring."""
        doc = inspect.cleandoc(self.doc or "").strip()
        return "\n".join([f"def {self.name}{self.signature}:", *(_indent_doc(doc) if doc else ["    ..."])])

    @classmethod
    def from_callable(cls, fn: Callable[..., Any], *, name: str | None = None, doc: str | None = None,
                      timeout_s: float | None = None) -> "HostFunction":
        """A host function from a plain Python function (sync: run in a worker thread;
        async: awaited), with its own signature and docstring."""
        if not callable(fn):
            raise TypeError(f"a host function must be callable, got {type(fn).__name__}")
        signature = _signature(fn)
        parameters = tuple({"name": p.name, "kind": p.kind.name,
                            **({"default": repr(p.default)} if p.default is not inspect.Parameter.empty else {})}
                           for p in signature.parameters.values())
        return cls(name=name or fn.__name__, call=_caller(fn, signature), parameters=parameters,
                   signature=str(signature), doc=inspect.getdoc(fn) or "" if doc is None else doc,
                   timeout_s=timeout_s)


def _indent_doc(doc: str) -> list[str]:
    body = doc.replace('"""', "'''").splitlines()
    if len(body) == 1:
        return [f'    """{body[0]}"""']
    return ['    """' + body[0], *[("    " + line) if line else "" for line in body[1:]], '    """']


def check_function_name(name: str) -> str:
    """`name` if the agent's code can call it; else ValueError saying why."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"a function's name must be a Python identifier (got {name!r})")
    if name in RESERVED_NAMES:
        raise ValueError(f"{name!r} is defined by the sandbox itself; give the function another name")
    return name


def check_host_functions(functions: Mapping[str, HostFunction] | list[HostFunction] | tuple[HostFunction, ...] | None
                   ) -> dict[str, HostFunction]:
    """A name -> `HostFunction` mapping from a mapping or a sequence; names must be unique
    and match each function's own."""
    if not functions:
        return {}
    items = list(functions.items()) if isinstance(functions, Mapping) else [(f.name, f) for f in functions]
    out: dict[str, HostFunction] = {}
    for key, function in items:
        if not isinstance(function, HostFunction):
            raise TypeError(f"host_functions[{key!r}] must be a HostFunction, got {type(function).__name__}")
        if key != function.name:
            raise ValueError(f"host_functions: key {key!r} names the function {function.name!r}")
        if key in out:
            raise ValueError(f"two functions are named {key!r}; names must be unique")
        out[key] = function
    return out


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    try:  # annotations as objects, so they print as `str`, not `'str'`
        return inspect.signature(fn, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        return inspect.signature(fn)


def _caller(fn: Callable[..., Any], signature: inspect.Signature) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    kinds = {p.name: p.kind for p in signature.parameters.values()}
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))

    async def call(arguments: dict[str, Any]) -> Any:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for key, value in arguments.items():
            kind = kinds.get(key)
            if kind is inspect.Parameter.POSITIONAL_ONLY:
                args.append(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                args.extend(value)
            else:
                kwargs[key] = value
        if is_async:
            return await fn(*args, **kwargs)
        return await in_daemon_thread(functools.partial(fn, *args, **kwargs))

    return call


async def in_daemon_thread(fn: Callable[[], Any]) -> Any:
    """`fn()` in a thread of its own, with the caller's context variables: a slow sync
    tool must not block the event loop, and one that hangs is abandoned at its timeout
    (a thread cannot be stopped). Not the loop's default executor: an abandoned call
    there would hold one of its few threads and keep ``asyncio.run`` from returning."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def work() -> None:
        try:
            result = context.run(fn)
        except BaseException as exc:  # handed to the awaiting task, raised there
            error = exc
            with contextlib.suppress(RuntimeError):  # the loop may be gone after a hang
                loop.call_soon_threadsafe(settle, lambda: future.set_exception(error))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

    threading.Thread(target=work, name="trirole-tool", daemon=True).start()
    return await future


def functions_reference(functions: Mapping[str, HostFunction], *, default_timeout_s: float) -> str:
    """The reference section listing `functions` for the agent and the corrector: each
    one's ``def`` line with its signature and its docstring ("" when there are none)."""
    if not functions:
        return ""
    timeouts = {f.timeout_s or default_timeout_s for f in functions.values()}
    if len(timeouts) == 1:
        limit, defs = f"each call at most {timeouts.pop():g} s", "\n\n".join(f.reference() for f in functions.values())
    else:  # each says its own
        limit = "each call within the limit noted above it"
        defs = "\n\n".join(f"# at most {f.timeout_s or default_timeout_s:g} s per call\n{f.reference()}"
                            for f in functions.values())
    return ("## Functions you can call\n"
            "Call them from your code like ordinary Python functions. They run outside "
            f"the sandbox ({limit}); arguments and results are JSON values (str, numbers, bool, "
            "None, lists, dicts). A call that fails raises `ToolError` in your code with the reason.\n"
            f"```python\n{defs}\n```\n")


RUN_STATE: ContextVar[Mapping[str, Any] | None] = ContextVar("trirole_run_state", default=None)
"""The graph state of the step whose code is calling host functions (set by the executor
node around an execution): what a tool's ``InjectedState`` parameters receive."""
