"""Shared test fixtures. Each area keeps its fixtures in its own module, imported here."""
