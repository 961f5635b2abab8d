"""Every relative link in the repository's Markdown reaches a file that is there.

docs once linked a ``docs/shortvideo.md`` that never existed; a link to a
heading is checked too, against the headings of the file it names (GitHub's
anchors: lower case, punctuation dropped, spaces as hyphens).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", "node_modules", ".playhead", ".git"}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def markdown_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.md")
                  if not SKIP & set(p.relative_to(ROOT).parts))


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for title in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_reach_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no {linked.relative_to(ROOT)}")
        elif anchor and linked.suffix == ".md" and anchor.lower() not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert broken == [], f"{page.relative_to(ROOT)}: broken links {broken}"


def test_nothing_cites_files_outside_the_repository() -> None:
    # The design notes and reference pages the first sessions worked from were
    # never part of the repository: docs/semantics.md holds what they said.
    outside = ("DESIGN" + ".md", "shared/" + "reference")
    citing = [f"{path.relative_to(ROOT)}: {name}"
              for path in [*markdown_files(), *sorted(ROOT.glob("*/**/*.py"))]
              if not SKIP & set(path.relative_to(ROOT).parts)
              for name in outside if name in path.read_text(encoding="utf-8")]
    assert citing == []
