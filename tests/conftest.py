"""Shared pytest configuration: fixture plugins for the chain and the services."""

from hypothesis import settings

# services first: the chain plugin imports free_port from it (a plugin must load before it is imported)
pytest_plugins = ["tests.fixtures.services", "tests.fixtures.chain"]

# No test asserts on time: Hypothesis's per-example deadline (200 ms by default) would fail a
# property on a busy machine, so it is off everywhere.
settings.register_profile("edgemarket", deadline=None)
settings.load_profile("edgemarket")
