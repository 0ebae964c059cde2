"""mkdocs hook: the docstrings' Sphinx roles (``:class:`~grokscope.run.RunDir` ``) as plain code on the site.

mkdocstrings renders a role as the text ``:class:`` before a code span; this keeps the code span and drops the
role, with a leading ``~`` shortening the name to its last part, as Sphinx does.
"""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj):<code>(~?)([^<]+)</code>")


def shorten(match: re.Match) -> str:
    tilde, name = match.groups()
    return f"<code>{name.rsplit('.', 1)[-1] if tilde else name}</code>"


def on_page_content(html: str, **_) -> str:
    return ROLE.sub(shorten, html)
