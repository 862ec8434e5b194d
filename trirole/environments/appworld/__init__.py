"""AppWorld (Trivedi et al., 2024) as a trirole environment.

AppWorld lives in its own virtual environment (it pins pydantic 1); its HTTP environment
server holds the task's world, and agent code runs in trirole's python sandbox, whose API
calls trirole forwards to that server. See README.md in this folder.
"""

from trirole.environments.appworld.data import OFFICIAL_DATASETS, available_datasets, list_tasks, task_metadata
from trirole.environments.appworld.environment import AppWorldEnvironment
from trirole.environments.appworld.errors import (
    AppWorldDataMissing,
    AppWorldError,
    AppWorldNotInstalled,
    AppWorldEpisodeLost,
    AppWorldServerError,
    AppWorldUnknownDataset,
    AppWorldUnknownTask,
    AppWorldUnreachable,
)
from trirole.environments.appworld.install import ensure_appworld_env
from trirole.environments.appworld.server import appworld_status, serve_appworld, stop_appworld

__all__ = [
    "AppWorldEnvironment",
    "ensure_appworld_env",
    "serve_appworld",
    "stop_appworld",
    "appworld_status",
    "list_tasks",
    "task_metadata",
    "available_datasets",
    "OFFICIAL_DATASETS",
    "AppWorldError",
    "AppWorldNotInstalled",
    "AppWorldDataMissing",
    "AppWorldUnreachable",
    "AppWorldUnknownTask",
    "AppWorldUnknownDataset",
    "AppWorldEpisodeLost",
    "AppWorldServerError",
]
