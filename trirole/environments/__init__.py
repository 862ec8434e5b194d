"""Environment adapters: where agent code runs (never in trirole's own process)."""

from __future__ import annotations

from typing import Any, Callable

from trirole.environments import base
from trirole.environments.base import Environment, EnvironmentFailure, EnvironmentInfo, Evaluation

EnvironmentFactory = Callable[..., Environment]


def _python_sandbox(**options: Any) -> Environment:
    from trirole.environments.python_sandbox import PythonSandbox

    return PythonSandbox(**options)


def _appworld(**options: Any) -> Environment:
    from trirole.environments.appworld import AppWorldEnvironment

    return AppWorldEnvironment(**options)


def _bfcl(**options: Any) -> Environment:
    from trirole.environments.bfcl.environment import BfclEnvironment

    return BfclEnvironment(**options)


ENVIRONMENTS: dict[str, EnvironmentFactory] = {"python": _python_sandbox, "appworld": _appworld, "bfcl": _bfcl}


def make_environment(name: str, **options: Any) -> Environment:
    """A fresh environment by name (``python``, ``appworld`` or ``bfcl``); options go to its constructor."""
    try:
        factory = ENVIRONMENTS[name]
    except KeyError:
        raise ValueError(f"unknown environment {name!r}; choose one of {sorted(ENVIRONMENTS)}") from None
    return factory(**options)


def __getattr__(name: str) -> Any:
    if name == "EnvironmentError_":  # deprecated alias of EnvironmentFailure (it warns)
        return base.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Environment", "EnvironmentFailure", "EnvironmentInfo", "Evaluation", "make_environment", "ENVIRONMENTS"]
