"""The repository documents itself: every relative link in README.md and docs/*.md resolves
(file and #anchor), and no tracked file points at documents outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    found: set[str] = set()
    for line in text.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            base = slug(m.group(1))
            n = 0
            while (base if n == 0 else f"{base}-{n}") in found:
                n += 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(path: Path) -> list[str]:
    problems = []
    text = FENCE.sub("", path.read_text())
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
            continue
        if not dest.is_relative_to(ROOT):
            problems.append(f"{path.relative_to(ROOT)}: {target} (outside the repository)")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{path.relative_to(ROOT)}: {target} (no heading #{anchor})")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


def test_the_checker_catches_broken_links(tmp_path: Path) -> None:
    page = ROOT / "docs" / "design.md"
    assert broken_links(page) == []
    assert "#the-contract" in {"#" + a for a in anchors(page)}
    bad = ROOT / "docs" / ".link-check-probe.md"
    bad.write_text("# Probe\n[a](nowhere.md) [b](design.md#no-such-part) [c](#probe) [d](https://x)\n")
    try:
        assert broken_links(bad) == [
            "docs/.link-check-probe.md: nowhere.md (no such file)",
            "docs/.link-check-probe.md: design.md#no-such-part (no heading #no-such-part)",
        ]
    finally:
        bad.unlink()


def test_no_file_points_outside_the_repository() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # Spelled in pieces so this file does not name them itself.
    outside = ["../" + "shared", "DESIGN" + ".md", "BISUNA" + ".md"]
    offenders = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".so", ".png", ".jpg", ".ico", ".json"} or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [f"{name}: {o}" for o in outside if o in text]
    assert offenders == []
