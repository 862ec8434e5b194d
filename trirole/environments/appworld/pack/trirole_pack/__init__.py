"""The task-pack generator: builds an AppWorld data folder (``data/``) with AppWorld's own engine.

It runs in AppWorld's virtual environment (pydantic 1), which does not have trirole's
dependencies, so it is its own top-level package: nothing in it imports trirole, and this file
imports nothing (so ``trirole_pack.solutions`` also imports in trirole's venv, for the tests).

    common.py     the world's clock, apps, the people type, the ground-truth file templates
    world.py      the shared synthetic world (base databases)
    scenarios.py  the task templates, their variants and evaluation checks
    solutions/    one ground-truth solution per scenario, as code
    generate.py   ``python -m trirole_pack.generate``: writes the pack
    verify.py     ``python -m trirole_pack.verify``: checks every task with AppWorld's evaluator
"""
