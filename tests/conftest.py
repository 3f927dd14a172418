"""Shared pytest configuration: fixture plugins for the chain and the services."""

import pytest
from hypothesis import settings

# services first: the chain plugin imports free_port from it (a plugin must load before it is imported)
pytest_plugins = ["tests.fixtures.services", "tests.fixtures.chain"]

# No test asserts on time: Hypothesis's per-example deadline (200 ms by default) would fail a
# property on a busy machine, so it is off everywhere.
settings.register_profile("edgemarket", deadline=None)
settings.load_profile("edgemarket")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests (`@pytest.mark.soak`) run only when `-m` names them (`make soak`); otherwise
    they are deselected, and pytest's summary counts them as such, never as skipped."""
    if "soak" in (config.getoption("-m") or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak") is not None]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if item.get_closest_marker("soak") is None]
