"""The task-pack generator: builds an AppWorld data folder (``data/``) with AppWorld's own engine.

It runs in AppWorld's virtual environment (pydantic 1), which does not have trirole's
dependencies, so it is its own top-level package with one import name, ``trirole_pack`` (its
folder on the path; it is data of trirole's distribution, not a subpackage): nothing in it
imports trirole, and this file imports nothing (so ``trirole_pack.solutions`` also imports in
trirole's venv, for the tests, which put the folder on the path).

    common.py     the world's clock, apps, the people type, the ground-truth file templates
    world.py      the shared synthetic world (base databases)
    scenarios.py  the task templates, their variants and evaluation checks
    solutions/    one ground-truth solution per scenario, as code
    generate.py   ``python -m trirole_pack.generate``: writes the pack
    verify.py     ``python -m trirole_pack.verify``: checks every task with AppWorld's evaluator
"""

if __name__ != "trirole_pack":  # one import name: the one the AppWorld venv runs it under
    raise ImportError(f"the pack generator is the top-level package trirole_pack, not {__name__}: put its "
                      "folder (trirole.tools.appworld.pack.PACK_DIR) on the path and import trirole_pack")
