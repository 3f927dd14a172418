"""How the CLI writes times, amounts and scores for people: ISO dates with time left, amounts
with their unit, scores as the fraction the page shows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

WEI = 10**18
SCORE_MAX = 1_000_000


def when(timestamp: int, now: int) -> str:
    """`2026-12-01T23:50:00Z (in 4m 10s)` or `(3m ago)`; `now` is the chain's clock."""
    iso = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    delta = timestamp - now
    if delta == 0:
        return f"{iso} (now)"
    span = duration(abs(delta))
    return f"{iso} (in {span})" if delta > 0 else f"{iso} ({span} ago)"


def duration(seconds: int) -> str:
    """`1h 02m`, `4m 10s`, `35s`, `2d 3h`."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def tfuel(wei: int) -> str:
    """An amount in TFUEL, exact (`1 TFUEL`, `0.001 TFUEL`); below 1e-6 TFUEL in wei."""
    if wei != 0 and abs(wei) < 10**12:
        return f"{wei} wei"
    text = format(Decimal(wei) / WEI, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} TFUEL"


def score(value: int) -> str:
    """A score (0..1,000,000 on chain) as the fraction the page shows: `0.953125`."""
    return f"{Decimal(value) / SCORE_MAX:f}"
