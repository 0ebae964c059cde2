"""Rows of dicts as the files and text a report shows: CSV bytes and GitHub markdown tables."""

from __future__ import annotations

import csv
import io


def csv_bytes(rows: list[dict]) -> bytes:
    """``rows`` (dicts with the same keys) as CSV with a header line."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


def markdown_table(rows: list[dict]) -> str:
    """A GitHub markdown table; floats with 3 decimals."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells]) + "\n"
