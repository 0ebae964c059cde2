"""The README and the documentation pages: every relative link and image points at a file that exists and that
git does not ignore (so a clone, GitHub and the site all have it)."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The Markdown extensions of mkdocs.yml that change what counts as a link (code blocks hold none).
EXTENSIONS = ["tables", "attr_list", "admonition", "fenced_code"]


def pages(root: Path) -> list[Path]:
    """The README and every page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


class _Targets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found += [value for name, value in attrs if name in ("href", "src") and value is not None]


def link_targets(text: str) -> list[str]:
    """The targets of the links and images of a Markdown page, as rendered (links inside code are text)."""
    markdown = pytest.importorskip("markdown", reason="the docs extra renders the pages: pip install -e '.[docs]'")
    parser = _Targets()
    parser.feed(markdown.markdown(text, extensions=EXTENSIONS))
    return parser.found


def broken_links(root: Path, files: list[Path]) -> list[str]:
    """``"page: target (why)"`` for each relative link of ``files`` whose target is missing or ignored by git
    (``git check-ignore`` in ``root``). Web and mail links and in-page anchors are not checked."""
    problems, resolved = [], {}
    for page in files:
        for target in link_targets(page.read_text(encoding="utf-8")):
            url = urlsplit(target)
            if url.scheme or url.netloc or not url.path:
                continue
            where = f"{page.relative_to(root)}: {target}"
            if url.path.startswith("/"):
                problems.append(f"{where} (absolute: links must be relative to the page)")
                continue
            path = (page.parent / unquote(url.path)).resolve()
            if not path.is_relative_to(root.resolve()):
                problems.append(f"{where} (outside the repository)")
            elif not path.exists():
                problems.append(f"{where} (no such file)")
            else:
                resolved[where] = path
    if resolved:
        listed = "\n".join(str(p) for p in resolved.values())
        out = subprocess.run(["git", "check-ignore", "--stdin"], cwd=root, input=listed, capture_output=True,
                             text=True)
        assert out.returncode in (0, 1), out.stderr
        ignored = {Path(line) for line in out.stdout.splitlines()}
        problems += [f"{where} (ignored by git)" for where, path in resolved.items() if path in ignored]
    return problems


def test_every_relative_link_resolves_to_a_file_git_keeps():
    assert broken_links(ROOT, pages(ROOT)) == []


def test_a_missing_or_ignored_target_is_reported(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".gitignore").write_text("/runs/\n")
    (tmp_path / "docs" / "img").mkdir(parents=True)
    (tmp_path / "docs" / "img" / "fig.png").write_bytes(b"png")
    (tmp_path / "docs" / "page.md").write_text("[back](../README.md#top) ![fig](img/fig.png) [gone](gone.md)\n")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "curves.png").write_bytes(b"png")
    (tmp_path / "README.md").write_text(
        "[page](docs/page.md) [anchor](#top) [web](https://example.org/x.md) [mail](mailto:a@example.org)\n"
        "![run](runs/curves.png) [missing](docs/missing.md) [root](/docs/page.md) [out](../elsewhere.md)\n\n"
        "    [in an indented code block](not/a/link.md)\n\n"
        "```\n[in a fenced code block](not/a/link.md)\n```\n\n`[in a code span](not/a/link.md)`\n")
    assert broken_links(tmp_path, pages(tmp_path)) == [
        "README.md: docs/missing.md (no such file)",
        "README.md: /docs/page.md (absolute: links must be relative to the page)",
        "README.md: ../elsewhere.md (outside the repository)",
        "docs/page.md: gone.md (no such file)",
        "README.md: runs/curves.png (ignored by git)",
    ]
