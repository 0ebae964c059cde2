"""Figures without pyplot: matplotlib loads on the first figure, and the user's backend is never switched.

A :class:`matplotlib.figure.Figure` made directly (not through ``pyplot``) renders with the Agg canvas when
saved as PNG, holds no global state and needs no ``close``: importing grokscope in a notebook changes nothing.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110


def figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **subplot_kw):
    """A new figure and its axes (``squeeze`` as ``pyplot.subplots``: one axes, a row, or a grid)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplot_kw)


def png_bytes(fig: Figure) -> bytes:
    """``fig`` laid out tightly and rendered as PNG."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    return buf.getvalue()
