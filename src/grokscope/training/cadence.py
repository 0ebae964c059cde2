"""When something happens: every n epochs, plus optional log-spaced epochs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def log_spaced_epochs(n_points: int, max_epochs: int) -> frozenset[int]:
    """``{floor(10^u) : u in linspace(0, log10 max_epochs, n_points)}`` (rep_theory.md §5's checkpoint set)."""
    if n_points <= 0:
        return frozenset()
    us = np.linspace(0.0, math.log10(max(max_epochs, 1)), n_points)
    return frozenset(int(e) for e in np.floor(10.0**us))


@dataclass(frozen=True)
class Cadence:
    """Epochs ``0, every, 2 every, ...`` plus the epochs in ``extra`` (``every = 0``: only ``extra``)."""

    every: int
    extra: frozenset[int] = field(default_factory=frozenset)

    def due(self, epoch: int) -> bool:
        return (self.every > 0 and epoch % self.every == 0) or epoch in self.extra

    def next_after(self, epoch: int) -> float:
        """The first due epoch strictly after ``epoch`` (``inf`` if none)."""
        nxt = (epoch // self.every + 1) * self.every if self.every > 0 else math.inf
        return min([nxt, *(e for e in self.extra if e > epoch)])
