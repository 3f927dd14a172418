"""Loading docs/scorer-vectors.json (shared by the tests of the core and of the reference)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "scorer-vectors.json"
FORMAT = "edgemarket/scorer-vectors@1"


def load_cases() -> list[dict[str, Any]]:
    doc = json.loads(VECTORS.read_text())
    if doc.get("format") != FORMAT:
        raise ValueError(f"{VECTORS}: format {doc.get('format')!r}, expected {FORMAT!r}")
    cases: list[dict[str, Any]] = doc["cases"]
    return cases
