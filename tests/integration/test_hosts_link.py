"""The userspace cable of the impairable test hosts (tests/fixtures/linkd.py): a test changes
its delay and loss while frames flow, as fast as it likes, and the cable stays up."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.hosts import Network


def test_the_cable_survives_settings_changed_back_to_back(tmp_path: Path) -> None:
    network = Network(tmp_path / "net")
    try:
        host = network.add_host("far", impairable=True)
        network.wait_connected()
        assert host.linkd is not None
        # bench/hosts.py lifts the impairment at the end of one round and sets it at the start
        # of the next: the second write may land while linkd reads the first
        for _ in range(300):
            host.impair(delay_ms=50, loss=0.01)
            host.impair(0, 0)
        network.wait_connected()
        assert host.linkd.poll() is None, (host.dir / "linkd.log").read_text()[-2000:]
    finally:
        network.close()
