"""Shared pytest configuration: fixture plugins for the chain and the services."""

# services first: the chain plugin imports free_port from it (a plugin must load before it is imported)
pytest_plugins = ["tests.fixtures.services", "tests.fixtures.chain"]
