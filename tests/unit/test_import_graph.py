"""The packages import one way: read every module's imports with ast (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
# Libraries every service may use; everything else under services/ is a service of its own.
COMMON = {"common"}
# The composition root: wires services together, so it may import any of them.
ROOT_PACKAGES = {"cli"}
# The deliberate crossings, each with its reason.
ALLOWED = {
    # The projector owns the read-model tables; the API reads them.
    ("api", "services.projector.models"),
}


def imports_of(path: Path) -> set[str]:
    """The absolute module names `path` imports (function-level imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def package_of(module: str) -> str | None:
    """`services.X.…` → X; anything else → None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "services" else None


def violations(root: Path = ROOT) -> list[str]:
    bad: list[str] = []
    for path in sorted((root / "services").rglob("*.py")):
        rel = path.relative_to(root)
        owner = rel.parts[1] if len(rel.parts) > 2 else None
        if owner is None or owner in ROOT_PACKAGES:
            continue
        for module in sorted(imports_of(path)):
            target = package_of(module)
            if target is None or target == owner or target in COMMON:
                continue
            if (owner, module) in ALLOWED or any(
                owner == o and (module == m or module.startswith(m + ".")) for o, m in ALLOWED
            ):
                continue
            what = "services/common" if owner in COMMON else f"service {owner!r}"
            bad.append(f"{rel}: {what} imports {module}")
    for path in sorted((root / "bisuna").rglob("*.py")):
        bad.extend(
            f"{path.relative_to(root)}: bisuna imports {m}"
            for m in sorted(imports_of(path))
            if m == "services" or m.startswith("services.")
        )
    return bad


def test_no_service_imports_another_service() -> None:
    assert violations() == []


def test_the_walk_catches_a_crossing(tmp_path: Path) -> None:
    """The checker itself can fail: a planted crossing of each kind is reported."""
    for rel, text in {
        "services/evaluator/service.py": "from services.scheduler.node import Node\n",
        "services/common/node.py": "def f():\n    import services.indexer.service\n",
        "services/api/app.py": "from services.projector.service import run\n",
        "services/cli/main.py": "import services.scheduler.service\n",
        "bisuna/core.py": "from services.common import chain\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert violations(tmp_path) == [
        "services/api/app.py: service 'api' imports services.projector.service",
        "services/api/app.py: service 'api' imports services.projector.service.run",
        "services/common/node.py: services/common imports services.indexer.service",
        "services/evaluator/service.py: service 'evaluator' imports services.scheduler.node",
        "services/evaluator/service.py: service 'evaluator' imports services.scheduler.node.Node",
        "bisuna/core.py: bisuna imports services.common",
        "bisuna/core.py: bisuna imports services.common.chain",
    ]
