"""What can go wrong with AppWorld, each error saying how to fix it.

All are `EnvironmentFailure`: a graph that meets one ends with status ``env_error`` and
the message, which names the fix (a command to run, a variable to set).
"""

from __future__ import annotations

from trirole.environments.base import EnvironmentFailure

SERVE_FIX = "start one with `trirole env serve appworld`"
LIST_FIX = ("list the task ids of a split with `trirole env tasks appworld --dataset dev` "
            "(or train, test_normal, test_challenge)")


class AppWorldError(EnvironmentFailure):
    """Base class of every AppWorld adapter error."""


class AppWorldNotInstalled(AppWorldError):
    """AppWorld's own virtual environment is missing and may not be installed now."""


class AppWorldDataMissing(AppWorldError):
    """The data root has no ``data/`` folder (no tasks, no API docs)."""


class AppWorldUnreachable(AppWorldError):
    """No AppWorld environment server answers at the URL."""


class AppWorldUnknownTask(AppWorldError, ValueError):
    """The task id is missing or not in the server's data."""


class AppWorldUnknownDataset(AppWorldError, ValueError):
    """No such split in the data's ``datasets/`` folder."""


class AppWorldServerError(AppWorldError):
    """The server answered with an error (its log usually says more)."""


class AppWorldEpisodeLost(AppWorldServerError):
    """The server no longer holds this episode's task world (another client initialised,
    reset or closed a world on it): the episode is void, an infrastructure error."""
