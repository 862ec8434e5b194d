"""AppWorld's environment server as trirole runs it: the world's APIs, and no code execution.

Standalone on purpose: it runs in AppWorld's own venv (``uvicorn trirole_appworld_app:app --app-dir FOLDER``, the
file bound read-only into the server's sandbox) and imports nothing from trirole.

It is AppWorld's FastAPI app (``appworld.serve.environment:app``: ``/initialize``,
``/close``, ``/task_completed``, ...) WITHOUT its route that runs code sent to it
(``/execute``) and those an episode does not use (``/save_state``, ``/load_state``,
``/evaluate``: scoring happens in a process of its own): agent code runs in
trirole's python sandbox, never here, and the world's memory (databases, task) stays in
this process, out of agent code's reach. The agent's ``apis.<app>.<api>(...)`` calls
reach the world through three routes of trirole's, which run only code of this file:

    POST /trirole/begin    {task_id, token}
        -> {apis: {app: [api, ...]}, datetime}: the episode's token (each later call must
           carry it: a world re-initialised underneath is noticed) and what ``apis`` offers
    POST /trirole/call     {task_id, token, app, api, arguments}
        -> {result} or {error: {type, message}}: one API call, exactly as AppWorld's shell
           makes it (``world.apis.<app>.<api>(**arguments)``: the same requester, limits,
           frozen clock and request log)
    POST /trirole/end_step {task_id, token, code, output}
        -> {task_completed}: what ``world.execute`` does after a cell: log the step,
           count it, save the world's state and logs (scored later from them), reset the
           per-step request count
"""

from typing import Any

from fastapi import Body, HTTPException
from fastapi.encoders import jsonable_encoder

import appworld.serve.environment as served

app = served.app
_DROPPED_ROUTES = {"/execute", "/save_state", "/load_state", "/evaluate"}
app.router.routes = [route for route in app.router.routes if getattr(route, "path", None) not in _DROPPED_ROUTES]

_TOKEN = "_trirole_token"


def _world(task_id: str, token: str):
    """The active world if it is this episode's; HTTP 409 naming why not."""
    world = served.world
    if world is None:
        raise HTTPException(409, "AppWorld has not been initialized.")
    if world.task_id != task_id:
        raise HTTPException(409, f"The active task world is {world.task_id}. But you have requested to operate on "
                                 f"{task_id}")
    if getattr(world, _TOKEN, None) != token:
        raise HTTPException(409, f"The active task world is {world.task_id}, but not this episode's (trirole "
                                 "episode token mismatch): it was re-initialised")
    return world


@app.post("/trirole/begin")
async def begin(task_id: str = Body(...), token: str = Body(...)) -> dict[str, Any]:
    world = served.world
    if world is None or world.task_id != task_id:
        _world(task_id, token)
    setattr(world, _TOKEN, token)
    apis = {name: sorted(key for key in collection.keys() if not key.startswith("_"))
            for name, collection in world.apis.items()}
    moment = world.task.datetime
    return {"output": {"apis": apis, "datetime": moment.isoformat() if hasattr(moment, "isoformat") else str(moment)}}


@app.post("/trirole/call")
async def call(task_id: str = Body(...), token: str = Body(...), app_name: str = Body(...),
               api_name: str = Body(...), arguments: dict = Body(...)) -> dict[str, Any]:
    world = _world(task_id, token)
    if world.num_interactions >= world.max_interactions:
        # (AppWorld's own message, which it raises instead of running the cell)
        return _error("Exception", f"Maximum number of executions ({world.max_interactions}) reached.")
    apps = dict(world.apis.items())  # (items(): the apps only, not the collection's own methods)
    if app_name not in apps:  # AppWorld's own messages
        return _error("Exception", f"No app named '{app_name}' found.")
    if api_name.startswith("_") or api_name not in apps[app_name]:
        return _error("Exception", f"No API named '{api_name}' found in the {app_name} app.")
    try:
        result = apps[app_name][api_name](**arguments)
    except HTTPException as exc:
        return _error("Exception", str(exc.detail))
    except Exception as exc:  # the agent's to handle, as in AppWorld's shell
        kind = type(exc).__name__
        if kind == "NumRequestsLimitError":
            kind = "Exception"  # (as AppWorld's shell shows it)
        return _error(kind, exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc))
    return {"output": {"result": jsonable_encoder(result)}}


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"output": {"error": {"type": kind, "message": message}}}


@app.post("/trirole/end_step")
async def end_step(task_id: str = Body(...), token: str = Body(...), code: str = Body(...),
                   output: str = Body(...)) -> dict[str, Any]:
    world = _world(task_id, token)
    world.environment_io.append({"input": code, "output": output.rstrip()})
    world.num_interactions += 1
    world._save_state(world.output_db_home_path_on_disk)
    world.save_logs()
    world.requester.reset_request_count()
    return {"output": {"task_completed": bool(world.task_completed())}}


@app.post("/trirole/state")
async def state(task_id: str = Body(...), token: str = Body(...)) -> dict[str, Any]:
    """Whether the episode still holds the world, and whether its task is completed."""
    world = _world(task_id, token)
    return {"output": {"task_completed": bool(world.task_completed())}}
