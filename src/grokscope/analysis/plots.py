"""Figure saving of the analyses."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from grokscope.training.outputs import atomic_write_bytes  # noqa: E402


def _save(fig, path: Path) -> None:
    """Save ``fig`` as ``path`` (atomically: a kill never leaves half a PNG) and close it."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
