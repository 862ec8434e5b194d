"""What can go wrong with BFCL, each error saying how to fix it."""

from __future__ import annotations

from trirole.environments.base import EnvironmentFailure


class BfclError(EnvironmentFailure):
    """Base class of every BFCL adapter error (a graph meeting one ends ``env_error``)."""


class BfclNotInstalled(BfclError):
    """BFCL's own virtual environment is missing and may not be installed now."""


class BfclUnknownTask(BfclError, ValueError):
    """A task id that is no entry of a runnable BFCL category."""


class BfclScorerError(BfclError):
    """BFCL's checker process failed (its log is named)."""
