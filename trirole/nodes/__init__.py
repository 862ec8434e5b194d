"""Nodes do one role each. Each module has a pure core function and a thin node factory."""
