"""The errors of the model backend: each says what to do."""

from __future__ import annotations

from trirole.errors import TriroleError


class BackendError(TriroleError, RuntimeError):
    """A model endpoint problem, with the fix in the message."""


class EndpointUnreachable(BackendError):
    pass


class ModelNotFound(BackendError):
    pass
