"""Deprecated alias of `trirole.environments` (the package was named ``trirole.tools`` until 0.1):
``trirole.tools`` and every ``trirole.tools.<module>`` import the same module objects under the
old names, with a DeprecationWarning. Removed in the next release; import trirole.environments."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from trirole.environments import *  # noqa: F401,F403  (the old names, same objects)
from trirole.environments import __all__  # noqa: F401

warnings.warn("trirole.tools is deprecated: import trirole.environments (the same modules)", DeprecationWarning,
              stacklevel=2)

_OLD, _NEW = "trirole.tools.", "trirole.environments."


class _OldNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``trirole.tools.X`` as the module ``trirole.environments.X`` itself (one module
    object under two names, so isinstance checks and module state agree)."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname.startswith(_OLD) else None

    def create_module(self, spec):
        return importlib.import_module(_NEW + spec.name[len(_OLD):])

    def exec_module(self, module):
        pass


if not any(isinstance(finder, _OldNames) for finder in sys.meta_path):
    sys.meta_path.insert(0, _OldNames())
