"""Shared pytest configuration: fixture plugins for the chain and the services."""

pytest_plugins = ["tests.fixtures.chain", "tests.fixtures.services"]
