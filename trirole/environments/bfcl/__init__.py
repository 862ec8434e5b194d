"""BFCL (the Berkeley Function Calling Leaderboard) as a trirole environment.

The data, the multi-turn classes and the checkers come from the PyPI package
``bfcl-eval`` installed in its own venv (`install`); `data` reads categories and entries,
`environment` runs an entry in the python sandbox, `scorer` runs BFCL's checkers.
"""

from trirole.environments.bfcl.errors import BfclError, BfclNotInstalled, BfclScorerError, BfclUnknownTask

__all__ = ["BfclError", "BfclNotInstalled", "BfclScorerError", "BfclUnknownTask"]
