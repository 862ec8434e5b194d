"""A thin async client of AppWorld's HTTP environment server (``appworld.serve.environment``).

The server holds ONE task world at a time (a module-level global): ``/initialize``
replaces whatever ran before, and every other call names the active ``task_id``.
Payloads are JSON bodies; every answer is ``{"output": ...}``:

    POST /initialize     {task_id, experiment_name, random_seed, max_interactions,
                          max_api_calls_per_interaction, timeout_seconds, ...}
                         -> {task_id, instruction, supervisor{first_name, last_name,
                             email, phone_number}, datetime}
    POST /execute        {task_id, code}              -> printed output (str)
                         (AppWorld's; the servers trirole starts have no such route:
                         they run trirole's ``server_app/trirole_appworld_app.py``, whose routes below
                         carry the agent's API calls instead)
    POST /task_completed {task_id}                    -> bool
    POST /evaluate       {task_id, suppress_errors, report}
                         -> {success, difficulty, num_tests, passes[{requirement, label}],
                             failures[{requirement, trace, label}]}
    POST /close          {task_id}                    -> null
    GET  /               -> {"message": "Welcome to AppWorld Server! ..."}
    GET  /tasks/{id}     -> the task as /initialize returns it (without initializing)

trirole's routes (``server_app/trirole_appworld_app.py``), each with the episode's token:

    POST /trirole/begin    {task_id, token}                     -> {apis{app: [api]}, datetime}
    POST /trirole/call     {task_id, token, app_name, api_name, arguments}
                                                                -> {result} or {error{type, message}}
    POST /trirole/end_step {task_id, token, code, output}       -> {task_completed}
    POST /trirole/state    {task_id, token}                     -> {task_completed}

Server-side exceptions (unknown task, closed world, a different active task) come back
as a bare HTTP 500 "Internal Server Error"; the server's log has the traceback.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from trirole.serving.process import log_tail
from trirole.environments.appworld.errors import (
    SERVE_FIX,
    AppWorldServerError,
    AppWorldUnreachable,
)

WELCOME = "Welcome to AppWorld Server"
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(: .*)?$")


def last_exception_line(log: str) -> str:
    """The last ``SomeError: message`` line of a server log ('' if none)."""
    for line in reversed(log.splitlines()):
        if _EXCEPTION.match(line):
            return line.strip()[:300]
    return ""


class AppWorldClient:
    """One HTTP connection pool to one AppWorld environment server."""

    def __init__(self, url: str, *, timeout_s: float = 160.0, log_path: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.log_path = log_path
        self._http = httpx.AsyncClient(base_url=self.url, timeout=httpx.Timeout(timeout_s, connect=10.0))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        try:
            if method == "GET":
                response = await self._http.get(path)
            else:
                response = await self._http.post(path, json=payload or {})
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise AppWorldUnreachable(
                f"no AppWorld environment server answers at {self.url} ({type(exc).__name__}); {SERVE_FIX}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise AppWorldServerError(
                f"the AppWorld server at {self.url} did not answer {path} in time ({type(exc).__name__})"
                + self._log_hint()
            ) from exc
        except httpx.HTTPError as exc:
            raise AppWorldServerError(
                f"the AppWorld server at {self.url} failed on {path}: {exc!r}" + self._log_hint()
            ) from exc
        if response.status_code != 200:
            body = response.text.strip().replace("\n", " ")[:500]
            raise AppWorldServerError(
                f"the AppWorld server at {self.url} failed on {path} (HTTP {response.status_code}: {body})"
                + self._log_hint()
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise AppWorldServerError(f"the AppWorld server at {self.url} sent no JSON for {path}") from exc
        return data["output"] if isinstance(data, dict) and "output" in data else data

    def _log_hint(self) -> str:
        if not self.log_path:
            return ""
        cause = last_exception_line(log_tail(self.log_path, 80))
        return (f"; the server says: {cause}" if cause else "") + f"; the server's log: {self.log_path}"

    async def ping(self) -> bool:
        """True if an AppWorld environment server answers at the URL."""
        try:
            data = await self._call("GET", "/")
        except (AppWorldUnreachable, AppWorldServerError):
            return False
        return isinstance(data, dict) and str(data.get("message", "")).startswith(WELCOME)

    async def initialize(self, task_id: str, **params: Any) -> dict[str, Any]:
        return await self._call("POST", "/initialize", {"task_id": task_id, **params})

    async def execute(self, task_id: str, code: str) -> str:
        output = await self._call("POST", "/execute", {"task_id": task_id, "code": code})
        return output if isinstance(output, str) else str(output)

    async def task_completed(self, task_id: str) -> bool:
        return bool(await self._call("POST", "/task_completed", {"task_id": task_id}))

    async def evaluate(self, task_id: str) -> dict[str, Any]:
        # suppress_errors=True is AppWorld's own default for world.evaluate(): a failed
        # check is recorded as a failure instead of aborting the evaluation (HTTP 500).
        return await self._call("POST", "/evaluate", {"task_id": task_id, "suppress_errors": True, "report": False})

    async def begin(self, task_id: str, token: str) -> dict[str, Any]:
        return await self._call("POST", "/trirole/begin", {"task_id": task_id, "token": token})

    async def api_call(self, task_id: str, token: str, app_name: str, api_name: str,
                       arguments: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/trirole/call", {"task_id": task_id, "token": token, "app_name": app_name,
                                                          "api_name": api_name, "arguments": arguments})

    async def end_step(self, task_id: str, token: str, code: str, output: str) -> bool:
        out = await self._call("POST", "/trirole/end_step",
                               {"task_id": task_id, "token": token, "code": code, "output": output})
        return bool(out.get("task_completed"))

    async def state(self, task_id: str, token: str) -> dict[str, Any]:
        return await self._call("POST", "/trirole/state", {"task_id": task_id, "token": token})

    async def close(self, task_id: str) -> None:
        await self._call("POST", "/close", {"task_id": task_id})
