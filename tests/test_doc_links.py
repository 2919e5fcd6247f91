"""Every relative link in the READMEs and docs/ points at a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([*ROOT.glob("README*.md"), *(ROOT / "docs").glob("*.md"), *ROOT.glob("*/README.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(text: str) -> list[str]:
    """Targets of Markdown links that are not URLs or same-page anchors, without their anchor."""
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t.split("#")[0] for t in targets if not re.match(r"^(https?:|mailto:|#)", t)]


def test_the_link_finder_sees_links() -> None:
    assert relative_links("see [a](docs/a.md#x), [b](https://x) and [c](#here)") == ["docs/a.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    dead = [t for t in relative_links(doc.read_text(encoding="utf-8")) if not (doc.parent / t).exists()]
    assert not dead, f"{doc.relative_to(ROOT)}: dead links {dead}"
