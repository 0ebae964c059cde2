"""Figures without pyplot: matplotlib loads on the first figure, and the user's backend is never switched.

A :class:`matplotlib.figure.Figure` made directly (not through ``pyplot``) renders with the Agg canvas when
saved as PNG, holds no global state and needs no ``close``: importing grokscope in a notebook changes nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110


def figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **subplot_kw):
    """A new figure and its axes (``squeeze`` as ``pyplot.subplots``: one axes, a row, or a grid)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplot_kw)


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """``fig`` laid out tightly and rendered as PNG."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    return buf.getvalue()


#: lines of at most this many points get a marker at each point (a metric logged on a few epochs)
FEW_POINTS = 25


def points(n: int) -> dict:
    """Line style for a line of ``n`` points: a marker at each when there are few (:data:`FEW_POINTS`), so that
    three metric epochs on a log axis read as three measurements, not as a curve."""
    return {"marker": "o", "markersize": 3} if n <= FEW_POINTS else {}


# --- dashboard media: pictures that read like the plots, drawn fast -------------------------------------------------
#: resolution of dashboard media (figures of a few inches: about 500 x 300 pixels)
MEDIA_DPI = 80


@dataclass
class Bars:
    """A dashboard picture: bar charts of ``values [n_series, n]`` (or ``[n]``), one panel per series stacked
    downwards (labelled ``series[s]``), bar ``i`` at ``x[i]`` (default ``1..n``; named ``xticklabels[i]`` when
    given), dark where ``dark [n_series, n]`` (``dark_label`` in the legend); ``line``, a level drawn red across
    every panel (``line_label``). ``title`` says what it shows, ``caption`` how to read it; the sink adds the run
    and the epoch."""

    values: np.ndarray
    title: str
    xlabel: str
    ylabel: str
    caption: str
    x: np.ndarray | None = None
    xticklabels: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    dark: np.ndarray | None = None
    dark_label: str = ""
    line: float | None = None
    line_label: str = ""


@dataclass
class Heatmap:
    """A dashboard picture: ``values [H, W]`` as an image, row 0 at the bottom, with axes spanning ``extent``
    (``(x0, x1, y0, y1)``, the outer edges of the cells; default the cell indices), a colour bar labelled
    ``colorbar`` and the colour map ``cmap``; ``title`` and ``caption`` as :class:`Bars`."""

    values: np.ndarray
    title: str
    xlabel: str
    ylabel: str
    colorbar: str
    caption: str
    extent: tuple[float, float, float, float] | None = None
    cmap: str = "viridis"


class MediaCanvas:
    """Draws :class:`Bars` and :class:`Heatmap` pictures as RGB arrays, one figure per key made once and then
    updated in place (bar heights, image data, colour limits, titles): a picture costs one Agg draw, a few tens
    of milliseconds, where a new figure with a tight layout costs several times that."""

    def __init__(self, dpi: int = MEDIA_DPI):
        self.dpi = dpi
        self.figures: dict[str, tuple[tuple, Figure, dict]] = {}

    def draw(self, key: str, picture: Bars | Heatmap, heading: str) -> np.ndarray:
        """``picture`` under the title ``picture.title`` and a second line ``heading`` (the run and the epoch),
        as an RGB array ``[height, width, 3]`` (uint8)."""
        shape = self._shape(picture)
        if key not in self.figures or self.figures[key][0] != shape:
            fig, parts = (self._new_bars if isinstance(picture, Bars) else self._new_heatmap)(picture)
            self.figures[key] = (shape, fig, parts)
            fresh = True
        else:
            fresh = False
        _, fig, parts = self.figures[key]
        (self._update_bars if isinstance(picture, Bars) else self._update_heatmap)(picture, parts)
        parts["title"].set_text(f"{picture.title}\n{heading}")
        if fresh:  # lay out once, with this picture's labels; later pictures reuse the layout
            fig.tight_layout()
            fig.set_layout_engine("none")
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()

    @staticmethod
    def _shape(picture) -> tuple:
        values = np.asarray(picture.values)
        return (type(picture).__name__, values.shape, getattr(picture, "line", None) is None,
                getattr(picture, "dark", None) is None, getattr(picture, "extent", None))

    def _figure(self, figsize, nrows=1, **kw):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, dpi=self.dpi)
        FigureCanvasAgg(fig)
        return fig, fig.subplots(nrows, 1, squeeze=False, **kw)[:, 0]

    def _new_bars(self, bars: Bars):
        values = np.atleast_2d(np.asarray(bars.values, dtype=np.float64))
        n_series, n = values.shape
        x = np.arange(1, n + 1) if bars.x is None else np.asarray(bars.x)
        fig, axes = self._figure((7, 1.5 + 1.8 * n_series), n_series, sharex=True)
        containers, lines = [], []
        for s, ax in enumerate(axes):
            containers.append(ax.bar(x, np.zeros(n), width=0.8, color="0.65"))
            if bars.line is not None:
                lines.append(ax.axhline(0.0, color="tab:red", lw=1, label=bars.line_label or None))
            ax.set_ylabel(bars.series[s] if s < len(bars.series) else bars.ylabel, fontsize="small")
            ax.grid(axis="y", alpha=0.3)
            ax.set_xlim(x[0] - 0.6, x[-1] + 0.6)
        if len(bars.series) > 0:
            fig.supylabel(bars.ylabel, fontsize="small")
        axes[-1].set_xlabel(bars.xlabel)
        if bars.xticklabels:
            axes[-1].set_xticks(x, bars.xticklabels, rotation=90 if len(x) > 8 else 0, fontsize="x-small")
        if (bars.dark is not None and bars.dark_label) or (bars.line is not None and bars.line_label):
            from matplotlib.patches import Patch

            handles = ([Patch(color="0.2", label=bars.dark_label)] if bars.dark is not None and bars.dark_label
                       else []) + (lines[:1] if bars.line is not None and bars.line_label else [])
            axes[0].legend(handles=handles, fontsize="x-small", loc="upper right")
        return fig, {"axes": axes, "bars": containers, "lines": lines, "title": fig.suptitle("", fontsize="medium")}

    @staticmethod
    def _update_bars(bars: Bars, parts: dict) -> None:
        values = np.nan_to_num(np.atleast_2d(np.asarray(bars.values, dtype=np.float64)))
        dark = np.zeros(values.shape, bool) if bars.dark is None else np.atleast_2d(np.asarray(bars.dark, bool))
        for s, (ax, container) in enumerate(zip(parts["axes"], parts["bars"])):
            for rect, height, d in zip(container, values[s], dark[s]):
                rect.set_height(height)
                rect.set_facecolor("0.2" if d else "0.65")
            top = max(values[s].max(), bars.line or 0.0)
            bottom = min(values[s].min(), 0.0)
            ax.set_ylim(bottom * 1.08, top * 1.08 if top > 0 else 1.0)
            if parts["lines"]:
                parts["lines"][s].set_ydata([bars.line, bars.line])

    def _new_heatmap(self, heatmap: Heatmap):
        values = np.asarray(heatmap.values, dtype=np.float64)
        fig, (ax,) = self._figure((6.4, 4.4))
        extent = heatmap.extent or (-0.5, values.shape[1] - 0.5, -0.5, values.shape[0] - 0.5)
        image = ax.imshow(values, origin="lower", aspect="auto", interpolation="nearest", extent=extent,
                          cmap=heatmap.cmap)
        fig.colorbar(image, ax=ax, label=heatmap.colorbar)
        ax.set(xlabel=heatmap.xlabel, ylabel=heatmap.ylabel)
        return fig, {"image": image, "title": fig.suptitle("", fontsize="medium")}

    @staticmethod
    def _update_heatmap(heatmap: Heatmap, parts: dict) -> None:
        values = np.asarray(heatmap.values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        parts["image"].set_data(values)
        parts["image"].set_clim(low, high if high > low else low + 1.0)
