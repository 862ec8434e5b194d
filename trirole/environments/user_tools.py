"""Your own tools as Python functions in the agent's code: LangChain tools, plain Python
callables and the tools of MCP servers.

``build_scaffold_graph(tools=[...])`` (every builder) takes a list of:

- LangChain tools (`BaseTool`: ``@tool`` functions, ``StructuredTool``, a retriever tool...);
- plain Python callables (sync or async) with type hints and a docstring, converted with
  LangChain's own ``@tool`` machinery;
- ``MultiServerMCPClient`` objects (package ``langchain-mcp-adapters``, extra
  ``trirole[tools]``): trirole starts each of its servers (stdio or streamable HTTP) when
  a run's episode starts and stops it when the episode ends (`Toolbox.open`), so no server
  outlives its run. Tools your own code loaded from a session it holds open
  (``async with client.session(name) as s: tools = await load_mcp_tools(s)``) are plain
  LangChain tools: their server is yours to start and stop.

Each becomes a `trirole.environments.functions.HostFunction`: the agent's code calls it by name
(``search(query="...")``, positional arguments work too), with the tool's parameters,
signature and docstring in the reference the agent and the corrector read. The call runs
here, in the trirole process (the user's credentials and network), through the sandbox's
private channel; the agent's code gets the tool's result (structured: a dict stays a dict;
an MCP tool's result as the tool declares it, `mcp_value`) or a ``ToolError`` with the
tool's error. A tool configured to turn its errors into text for a chat model
(``handle_tool_error``) raises here instead: in code an exception is how a failure reads.

Injected arguments, as LangChain and LangGraph define them, are not shown to the agent and
are supplied by trirole: ``InjectedState`` (the run's `trirole.state.TriroleState`, or one
field of it), ``InjectedStore`` (the graph's store), ``ToolRuntime``, ``InjectedToolCallId``
(an id per call), a ``RunnableConfig`` parameter (the run's config, as LangChain injects
it), and any other ``InjectedToolArg`` from the run's ``configurable`` under its name
(e.g. ``config={"configurable": {"user_id": "u1"}}``). Tool names that are not Python
identifiers (MCP's ``get-weather``) are called with ``_`` for each other character
(``get_weather``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import keyword
import logging
import os
import re
import sys
import uuid
from typing import Any, AsyncIterator, Iterable, Mapping, Sequence, get_args, get_origin, get_type_hints

from langchain_core.documents import Document
from langchain_core.messages import ToolMessage
from langchain_core.tools import (BaseTool, InjectedToolArg, InjectedToolCallId, StructuredTool, ToolException,
                                   tool as as_langchain_tool)
from langchain_core.tools.base import get_all_basemodel_annotations
from langgraph.config import get_config, get_store, get_stream_writer
from langgraph.prebuilt import InjectedState, InjectedStore, ToolRuntime
from pydantic import BaseModel

from trirole.environments.base import EnvironmentFailure
from trirole.environments.functions import RUN_STATE, HostFunction, check_function_name, in_daemon_thread

log = logging.getLogger(__name__)

MCP_START_TIMEOUT_S = 60.0
"""How long starting one run's MCP servers (and listing their tools) may take."""

_JSON_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None",
               "object": "dict", "array": "list"}


def python_name(name: str) -> str:
    """The name the agent's code calls a tool by: `name` with every character that cannot
    be in a Python identifier replaced by ``_``."""
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit() or keyword.iskeyword(text):
        text = "tool_" + text
    return text


def is_mcp_client(value: Any) -> bool:
    """Whether `value` is langchain-mcp-adapters' ``MultiServerMCPClient`` (without
    importing the package when it is not installed)."""
    return type(value).__name__ == "MultiServerMCPClient" and hasattr(value, "connections")


def is_mcp_tool(tool: BaseTool) -> bool:
    """Whether `tool` calls an MCP server (langchain-mcp-adapters' tools: their calls give
    MCP results, content and structured content)."""
    function = getattr(tool, "coroutine", None)
    return getattr(function, "__module__", "") == "langchain_mcp_adapters.tools"


# -- LangChain tools as host functions -------------------------------------------------------
def _injections(tool: BaseTool) -> dict[str, tuple[str, Any]]:
    """The tool's injected parameters: name -> (kind, detail), kind one of ``state``
    (detail: the field or None), ``store``, ``runtime``, ``tool_call_id``, ``arg``."""
    annotations: dict[str, Any] = {}
    func = getattr(tool, "func", None) or getattr(tool, "coroutine", None)
    if func is not None:
        with contextlib.suppress(Exception):
            annotations.update(get_type_hints(func, include_extras=True))
    if not isinstance(tool.args_schema, dict):
        with contextlib.suppress(Exception):
            annotations.update(get_all_basemodel_annotations(tool.get_input_schema()))
    found: dict[str, tuple[str, Any]] = {}
    for name, annotation in annotations.items():
        marks = get_args(annotation)[1:] if get_origin(annotation) is not None else ()
        origin = get_origin(annotation) or annotation
        if isinstance(origin, type) and issubclass(origin, ToolRuntime):
            found[name] = ("runtime", None)
            continue
        for mark in marks:
            kind = mark if isinstance(mark, type) else type(mark)
            if not issubclass(kind, InjectedToolArg):
                continue
            if issubclass(kind, InjectedState):
                found[name] = ("state", getattr(mark, "field", None) if not isinstance(mark, type) else None)
            elif issubclass(kind, InjectedStore):
                found[name] = ("store", None)
            elif issubclass(kind, InjectedToolCallId):
                found[name] = ("tool_call_id", None)
            else:
                found[name] = ("arg", None)
            break
    return found


def _schema(tool: BaseTool) -> dict[str, Any]:
    schema = tool.tool_call_schema
    if isinstance(schema, dict):
        return schema
    return schema.model_json_schema()


def _type_text(schema: Mapping[str, Any]) -> str:
    """A Python annotation's text for a JSON schema (approximate for the exotic ones)."""
    if "enum" in schema:
        return "Literal[" + ", ".join(repr(v) for v in schema["enum"]) + "]"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(dict.fromkeys(_type_text(s) for s in schema[key]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_JSON_TYPES.get(k, "Any") for k in kind)
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"list[{_type_text(schema['items'])}]"
    if kind is None and "$ref" in schema:
        return "dict"
    return _JSON_TYPES.get(kind, "Any")


def _parameters(tool: BaseTool, hidden: Iterable[str]) -> tuple[list[dict[str, str]], list[str], str]:
    """The parameters the agent passes (spec dicts for the sandbox), their rendered
    ``name: type = default`` texts, and the return annotation's text ("" if unknown)."""
    schema = _schema(tool)
    properties: dict[str, Any] = dict(schema.get("properties") or {})
    required = set(schema.get("required") or [])
    hidden = set(hidden)
    # An MCP tool's function is the adapter's own ``call_tool(**arguments)``: its schema says it all.
    func = None if is_mcp_tool(tool) else getattr(tool, "func", None) or getattr(tool, "coroutine", None)
    signature = None
    if func is not None:
        with contextlib.suppress(TypeError, ValueError):
            signature = inspect.signature(func, eval_str=True)
    rendered_return = ""
    order = [name for name in properties if name not in hidden]
    texts: dict[str, str] = {}
    defaults: dict[str, str] = {}
    if signature is not None and set(order) <= set(signature.parameters):
        # A function's tool: its own annotations and order read best.
        order = [name for name in signature.parameters if name in order]
        for name in order:
            parameter = signature.parameters[name]
            annotation = "" if parameter.annotation is inspect.Parameter.empty \
                else inspect.formatannotation(parameter.annotation)
            texts[name] = f"{name}: {annotation}" if annotation else name
            if parameter.default is not inspect.Parameter.empty:
                defaults[name] = repr(parameter.default)
        # (A content-and-artifact tool's function returns a pair; its calls give the content.)
        if signature.return_annotation is not inspect.Signature.empty and tool.response_format == "content":
            rendered_return = inspect.formatannotation(signature.return_annotation)
    else:
        for name in order:
            texts[name] = f"{name}: {_type_text(properties[name])}"
            if "default" in properties[name]:
                defaults[name] = repr(properties[name]["default"])
            elif name not in required:
                defaults[name] = "None"
    specs: list[dict[str, str]] = []
    rendered: list[str] = []
    keyword_only = False
    for name in order:
        optional = name in defaults
        if not optional and specs and "default" in specs[-1]:
            keyword_only = True  # a required one after an optional one: keywords from here on
        if keyword_only and not any(r == "*" for r in rendered):
            rendered.append("*")
        spec = {"name": name, "kind": "KEYWORD_ONLY" if keyword_only else "POSITIONAL_OR_KEYWORD"}
        if optional:
            spec["default"] = defaults[name]
        specs.append(spec)
        rendered.append(texts[name] + (f" = {defaults[name]}" if optional else ""))
    return specs, rendered, rendered_return


def _doc(tool: BaseTool, hidden: Iterable[str]) -> str:
    """The tool's description, with its arguments' descriptions when it lacks them."""
    description = (tool.description or "").strip()
    properties = _schema(tool).get("properties") or {}
    described = [(name, str(spec.get("description")).strip()) for name, spec in properties.items()
                 if name not in set(hidden) and isinstance(spec, Mapping) and spec.get("description")]
    if described and "Args:" not in description:
        description += "\n\nArgs:\n" + "\n".join(f"    {name}: {text}" for name, text in described)
    return description


def from_langchain_tool(tool: BaseTool, *, timeout_s: float | None = None,
                        output_schema: Mapping[str, Any] | None = None) -> HostFunction:
    """A LangChain tool as a host function (see the module docstring). `output_schema`:
    an MCP tool's, which says what its calls return (`mcp_value`)."""
    injections = _injections(tool)
    specs, rendered, returns = _parameters(tool, injections)
    returns = returns or returns_text(output_schema)
    mcp = is_mcp_tool(tool)
    name = check_function_name(python_name(tool.name))
    # Errors raise: in code, an exception is how a failure reads (not an error text).
    quiet = tool.model_copy(update={"handle_tool_error": False, "handle_validation_error": False})
    sync = tool.coroutine is None if isinstance(tool, StructuredTool) else type(tool)._arun is BaseTool._arun
    as_tool_call = tool.response_format == "content_and_artifact" or any(
        kind == "tool_call_id" for kind, _ in injections.values())

    async def call(arguments: dict[str, Any]) -> Any:
        try:
            config = get_config()
        except RuntimeError:  # called outside a graph run (a sandbox used on its own)
            config = {}
        call_id = f"trirole-{uuid.uuid4().hex[:12]}"
        args = {**arguments, **_injected_values(injections, config, call_id, tool)}
        given = {"type": "tool_call", "name": tool.name, "args": args, "id": call_id} if as_tool_call else args
        try:
            if sync:  # in a thread of its own (see in_daemon_thread), not LangChain's shared executor
                output = await in_daemon_thread(lambda: quiet.invoke(given, config=config))
            else:
                output = await quiet.ainvoke(given, config=config)
        except ToolException as exc:  # (under its public name: an adapter's subclass reads as noise)
            raise ToolException(str(exc)) from None
        return mcp_value(output, output_schema) if mcp and isinstance(output, ToolMessage) else plain(output)

    return HostFunction(name=name, call=call, parameters=tuple(specs),
                        signature=f"({', '.join(rendered)})" + (f" -> {returns}" if returns else ""),
                        doc=_doc(tool, injections), timeout_s=timeout_s, metadata={"tool_name": tool.name})


def _injected_values(injections: Mapping[str, tuple[str, Any]], config: Mapping[str, Any], call_id: str,
                     tool: BaseTool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    state = RUN_STATE.get()
    for name, (kind, detail) in injections.items():
        if kind == "state":
            if state is None:
                raise RuntimeError(f"tool {tool.name!r} needs the graph's state (InjectedState): call it from a "
                                   f"trirole graph's run")
            values[name] = state if detail is None else state.get(detail)
        elif kind == "store":
            values[name] = _store()
        elif kind == "tool_call_id":
            values[name] = call_id
        elif kind == "runtime":
            values[name] = ToolRuntime(state=state, context=_context(), config=config,  # type: ignore[arg-type]
                                       stream_writer=_stream_writer(), tool_call_id=call_id, store=_store())
        elif name in (config.get("configurable") or {}):
            values[name] = config["configurable"][name]
    return values


def _stream_writer() -> Any:
    try:
        return get_stream_writer()
    except RuntimeError:  # outside a graph run: nothing to stream to
        return lambda chunk: None


def _store() -> Any:
    try:
        return get_store()
    except RuntimeError:
        return None


def _context() -> Any:
    from langgraph.runtime import get_runtime

    try:
        return get_runtime().context
    except (RuntimeError, KeyError, AttributeError):
        return None


def plain(value: Any) -> Any:
    """A tool's output as the value the agent's code gets (JSON-friendly where LangChain's
    types have an obvious JSON form; anything else is left for the sandbox to refuse)."""
    if isinstance(value, ToolMessage):
        if value.status == "error":
            raise RuntimeError(_text(value.content))
        return plain(value.content)
    if isinstance(value, Document):
        return {"page_content": value.page_content, "metadata": plain(value.metadata)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) and v.get("type") == "text" and "text" in v for v in value):
            return "\n".join(v["text"] for v in value)  # content blocks: their text
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def mcp_value(message: ToolMessage, output_schema: Mapping[str, Any] | None = None) -> Any:
    """What a call of an MCP tool gives the agent's code: the value the tool declares.

    Its structured content when it sent some (MCP's ``structuredContent``; a dict stays a
    dict). A value that is not an object travels wrapped, ``{"result": value}`` (FastMCP
    wraps ``-> int``, ``-> list[int]``, ``-> str``, ``-> None``... so and says so in the
    tool's output schema, `wraps_result`), and arrives unwrapped. Without structured
    content (no output schema, e.g. FastMCP's ``-> dict`` unparametrized or no annotation)
    its text: a JSON object or array as that value, any other text as a string.
    `output_schema`: the tool's, when known (the servers of a ``MultiServerMCPClient`` in
    ``tools``); unknown (tools from your own session), the tool's text tells a wrapped
    value from an object that has a ``result`` key (`wraps_result`)."""
    if message.status == "error":
        raise RuntimeError(_text(message.content))
    artifact = message.artifact if isinstance(message.artifact, Mapping) else {}
    structured = artifact.get("structured_content")
    if structured is not None:
        if wraps_result(structured, message.content, output_schema):
            return plain(structured["result"])
        return plain(structured)
    text = plain(message.content)
    if isinstance(text, str) and text.lstrip()[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            return json.loads(text)
    return text


def wraps_result(structured: Any, content: Any, output_schema: Mapping[str, Any] | None) -> bool:
    """Whether `structured` is a value wrapped as ``{"result": value}``: as the output
    schema says when known (`is_wrapper_schema`); unknown, when the tool's text is not that
    object (a server sends an object's JSON as its text, a wrapped value's own rendering)."""
    if not (isinstance(structured, Mapping) and set(structured) == {"result"}):
        return False
    if output_schema is not None:
        return is_wrapper_schema(output_schema)
    text = plain(content)
    try:
        return json.loads(text) != structured if isinstance(text, str) else True
    except ValueError:
        return True


def is_wrapper_schema(output_schema: Mapping[str, Any]) -> bool:
    """Whether an MCP output schema is FastMCP's wrapper of a value that is not an object:
    an object named ``<function>Output`` whose one, required, property is ``result``."""
    return (set(output_schema.get("properties") or {}) == {"result"}
            and list(output_schema.get("required") or []) == ["result"]
            and str(output_schema.get("title", "")).endswith("Output"))


def returns_text(output_schema: Mapping[str, Any] | None) -> str:
    """The return annotation an MCP tool's output schema declares ("" when it declares none)."""
    if not output_schema:
        return ""
    return _type_text(output_schema["properties"]["result"]) if is_wrapper_schema(output_schema) else "dict"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    out = plain(content)
    return out if isinstance(out, str) else json.dumps(out, default=str)


# -- the toolbox of a graph -------------------------------------------------------------------
def to_host_function(item: Any, *, timeout_s: float | None = None) -> HostFunction:
    """One tool (a LangChain tool, a callable or a `HostFunction`) as a host function."""
    if isinstance(item, HostFunction):
        return item
    if isinstance(item, BaseTool):
        return from_langchain_tool(item, timeout_s=timeout_s)
    if callable(item):
        try:
            converted = as_langchain_tool(item)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"cannot make a tool of {getattr(item, '__name__', item)!r}: {exc}") from None
        return from_langchain_tool(converted, timeout_s=timeout_s)
    raise TypeError(f"a tool must be a LangChain tool, a Python callable or a MultiServerMCPClient, "
                    f"got {type(item).__name__}")


def tool_list(tools: Any) -> list[Any]:
    """`tools` as a list (``None``: none); TypeError naming the fix for one tool given
    alone (``tools=my_function``: LangChain takes tools as a list, so does trirole) or
    anything else that is not a list of tools."""
    if tools is None:
        return []
    single = isinstance(tools, BaseTool) or is_mcp_client(tools) or (callable(tools) and not isinstance(tools, type))
    if single:
        name = getattr(tools, "name", None) or getattr(tools, "__name__", None) or type(tools).__name__
        raise TypeError(f"tools must be a list: tools=[{name}] (got the single tool {name!r})")
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Iterable):
        raise TypeError(f"tools must be a list of LangChain tools, Python callables or MultiServerMCPClients, "
                        f"not {type(tools).__name__}")
    return list(tools)


class Toolbox:
    """A graph's tools: those known when it is built, and MCP clients whose servers each
    run starts and stops (`open`). Bad tools (a name the sandbox reserves, two tools of
    one name, a callable without a docstring) fail here, at build time.

    timeout_s: the time limit of one call of each tool (``None``: the sandbox's).
    """

    def __init__(self, tools: Sequence[Any] = (), *, timeout_s: float | None = None) -> None:
        tools = tool_list(tools)
        self.timeout_s = timeout_s
        self.clients = [item for item in tools if is_mcp_client(item)]
        self.functions: dict[str, HostFunction] = {}
        for item in tools:
            if not is_mcp_client(item):
                self._add(self.functions, to_host_function(item, timeout_s=timeout_s))

    def __bool__(self) -> bool:
        return bool(self.functions or self.clients)

    @staticmethod
    def _add(functions: dict[str, HostFunction], function: HostFunction) -> None:
        if function.name in functions:
            raise ValueError(f"two tools are called {function.name!r} in the agent's code; rename one "
                             f"(MultiServerMCPClient(..., tool_name_prefix=True) prefixes MCP tools with their server)")
        functions[function.name] = function

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[dict[str, HostFunction]]:
        """The run's functions, its MCP servers started for as long as the context lasts
        (in a task of their own: MCP sessions must end in the task they started in, and
        a run's episode may be closed from another). `EnvironmentFailure` if a server
        does not start."""
        if not self.clients:
            yield dict(self.functions)
            return
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[list[tuple[BaseTool, dict | None]]] = loop.create_future()
        stop = asyncio.Event()
        task = asyncio.create_task(_serve_mcp(self.clients, ready, stop), name="trirole-mcp-servers")
        try:
            async with asyncio.timeout(MCP_START_TIMEOUT_S):
                tools = await asyncio.shield(ready)
        except BaseException as exc:
            stop.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if isinstance(exc, TimeoutError):
                raise EnvironmentFailure(f"the MCP servers did not start within {MCP_START_TIMEOUT_S:g} s") from None
            if isinstance(exc, Exception):
                raise EnvironmentFailure(f"could not start the MCP servers: {_describe(exc)}") from exc
            raise
        try:
            functions = dict(self.functions)
            for found, schema in tools:
                self._add(functions, from_langchain_tool(found, timeout_s=self.timeout_s, output_schema=schema))
            yield functions
        finally:
            stop.set()
            results = await asyncio.gather(task, return_exceptions=True)
            if isinstance(results[0], Exception):  # a server that failed while serving: said once, here
                log.warning("an MCP server ended with an error: %s", _describe(results[0]))


async def _serve_mcp(clients: list[Any], ready: asyncio.Future, stop: asyncio.Event) -> None:
    from langchain_mcp_adapters.tools import convert_mcp_tool_to_langchain_tool

    try:
        async with contextlib.AsyncExitStack() as stack:
            tools: list[tuple[BaseTool, dict | None]] = []
            for client in clients:
                for server in client.connections:
                    session = await stack.enter_async_context(_session(client, server))
                    # As load_mcp_tools does, keeping each tool's output schema (it drops them).
                    tools += [(convert_mcp_tool_to_langchain_tool(
                        session, listed, callbacks=client.callbacks, tool_interceptors=client.tool_interceptors,
                        server_name=server, tool_name_prefix=client.tool_name_prefix,
                        handle_tool_errors=client.handle_tool_errors), listed.outputSchema)
                        for listed in await _listed_tools(session)]
            ready.set_result(tools)
            await stop.wait()
    except BaseException as exc:
        if not ready.done():
            if isinstance(exc, Exception):
                ready.set_exception(exc)
            else:
                ready.cancel()
        raise


async def _listed_tools(session: Any) -> list[Any]:
    """Every tool an MCP session lists (MCP ``Tool`` objects), page after page."""
    from mcp.types import PaginatedRequestParams

    listed, cursor = [], None
    while True:
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        listed += page.tools
        cursor = page.nextCursor
        if not cursor:
            return listed


def _session(client: Any, server: str) -> contextlib.AbstractAsyncContextManager:
    """`client.session(server)`; for a stdio server where the MCP SDK's default error log
    (the ``sys.stderr`` it found at import) has no file descriptor, as in some Jupyter
    kernels, the same session with the server's stderr sent to a file that has one."""
    connection = client.connections[server]
    if connection.get("transport") != "stdio" or _has_fileno(_default_errlog()):
        return client.session(server)
    return _stdio_session(client, server, connection)


def _default_errlog() -> Any:
    from mcp.client.stdio import stdio_client

    generator = getattr(stdio_client, "__wrapped__", stdio_client)  # (under @asynccontextmanager)
    return (generator.__defaults__ or (None,))[-1]


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return False
    return True


@contextlib.asynccontextmanager
async def _stdio_session(client: Any, server: str, connection: Mapping[str, Any]) -> AsyncIterator[Any]:
    from langchain_mcp_adapters.callbacks import CallbackContext
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {key: re.sub(r"\$\{([^}]+)\}", lambda m: os.environ.get(m.group(1), m.group(0)), value)
           for key, value in connection["env"].items()} if connection.get("env") is not None else None
    params = StdioServerParameters(command=connection["command"], args=list(connection.get("args") or []), env=env,
                                   cwd=connection.get("cwd"), encoding=connection.get("encoding", "utf-8"),
                                   encoding_error_handler=connection.get("encoding_error_handler", "strict"))
    callbacks = client.callbacks.to_mcp_format(context=CallbackContext(server_name=server))
    session_kwargs = dict(connection.get("session_kwargs") or {})
    for key in ("logging_callback", "elicitation_callback"):
        if getattr(callbacks, key, None) is not None:
            session_kwargs[key] = getattr(callbacks, key)
    errlog = sys.__stderr__ if _has_fileno(sys.__stderr__) else None
    with contextlib.ExitStack() as files:
        if errlog is None:
            errlog = files.enter_context(open(os.devnull, "w"))  # noqa: SIM115 (closed with the session)
        async with stdio_client(params, errlog=errlog) as (read, write), \
                ClientSession(read, write, **session_kwargs) as session:
            await session.initialize()
            yield session


def _describe(exc: BaseException) -> str:
    """An exception group's first leaf (anyio wraps a server's failure in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def load_tools(specs: Sequence[str]) -> list[Any]:
    """The tools named by ``module:attribute`` specs (an attribute may hold one tool or a
    list of them); ValueError naming a spec that does not import."""
    import importlib

    found: list[Any] = []
    for spec in specs:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise ValueError(f"tools: {spec!r} must be module:attribute, e.g. my_tools:TOOLS")
        try:
            value: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"tools: cannot import {module_name!r} for {spec!r} ({exc}); is it on PYTHONPATH?") \
                from None
        for part in attribute.split("."):
            if not hasattr(value, part):
                raise ValueError(f"tools: {module_name!r} has no attribute {attribute!r} (from {spec!r})")
            value = getattr(value, part)
        found.extend(value if isinstance(value, (list, tuple)) else [value])
    return found
