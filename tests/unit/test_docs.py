"""The README is a front page and docs/ holds the rest: every relative link of README.md and docs/*.md leads to a
file that is there (and to a heading that is there, when it names one), and every family has its page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

from ovdemo.demos import FAMILIES

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCED = re.compile(r"^```.*?^```", re.S | re.M)  # code blocks: their `#` lines and brackets are not markdown
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto: ...


def prose(page: Path) -> str:
    return FENCED.sub("", page.read_text(encoding="utf-8"))


def anchors(page: Path) -> Iterator[str]:
    """The heading anchors GitHub makes: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#+ (.+)$", prose(page), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        yield slug if seen[slug] == 0 else f"{slug}-{seen[slug]}"


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page)) if not EXTERNAL.match(target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.is_file():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in set(anchors(linked)):
            broken.append(f"{target}: no heading '{anchor}' in {linked.name}")
    assert not broken, broken


def test_the_readme_is_a_front_page_that_links_every_family():
    readme = REPO / "README.md"
    lines = len(readme.read_text(encoding="utf-8").splitlines())
    assert 150 <= lines <= 250, f"README.md has {lines} lines: its details belong on a page of docs/"
    linked = {(readme.parent / target.partition("#")[0]).resolve() for target in relative_links(readme)}
    for family in FAMILIES:
        page = REPO / "docs" / f"{family}.md"
        assert page.is_file() and page.resolve() in linked, f"docs/{family}.md is missing or not linked"
