"""The three phases of grokking (Nanda et al. 2023 §5; nanda_progress_measures.md §5.7), placed from measured
curves.

Memorisation (train loss falls), circuit formation (excluded loss rises while train and test loss stay roughly
flat) and cleanup (test loss falls sharply), then a stable phase. The paper places the boundaries by eye; here
they are read off the curves over the measured epochs:

- circuit formation starts at the epoch of the lowest excluded loss before cleanup: the excluded loss falls
  with the train loss while the network memorises and rises once the key-frequency circuit forms (§5.3); none
  when that minimum is the first or the last epoch looked at (no fall, or no rise, was measured);
- cleanup is the fall of the log test loss from its peak ``ℓ_max`` to its final value ``ℓ_end``: it starts at
  the first epoch after the peak where ``log test loss ≤ ℓ_max - 0.1 (ℓ_max - ℓ_end)`` and ends (the stable
  phase starts) at the first where ``log test loss ≤ ℓ_end + 0.1 (ℓ_max - ℓ_end)``, the 10%-90% fall time of a
  step; none unless the final test accuracy reaches ``GROK_THRESHOLD`` (the run generalised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokscope.training.callbacks import GROK_THRESHOLD

#: share of the log test loss's fall from its peak to its final value that opens and closes cleanup
FALL_MARGIN = 0.1


@dataclass(frozen=True)
class Phases:
    """The first epoch of circuit formation, of cleanup and of the stable phase (None: not measured)."""

    circuit_formation: int | None
    cleanup: int | None
    stable: int | None

    def boundaries(self) -> dict[str, int]:
        return {name: epoch for name, epoch in vars(self).items() if epoch is not None}


def phase_boundaries(epochs: np.ndarray, excluded_loss: np.ndarray, test_loss: np.ndarray,
                     final_test_acc: float) -> Phases:
    """The :class:`Phases` of curves measured at ``epochs`` (ascending), as the module docstring defines them."""
    cleanup = stable = None
    if final_test_acc >= GROK_THRESHOLD:
        log_loss = np.log(test_loss)
        peak = int(np.argmax(log_loss))
        drop = log_loss[peak] - log_loss[-1]
        after = np.arange(len(epochs)) >= peak
        cleanup = _first(epochs, after & (log_loss <= log_loss[peak] - FALL_MARGIN * drop))
        stable = _first(epochs, after & (log_loss <= log_loss[-1] + FALL_MARGIN * drop))
    before = epochs <= cleanup if cleanup is not None else np.ones(len(epochs), bool)
    lowest = int(np.argmin(np.where(before, excluded_loss, np.inf)))
    circuit_formation = int(epochs[lowest]) if 0 < lowest < before.sum() - 1 else None
    return Phases(circuit_formation, cleanup, stable)


def _first(epochs: np.ndarray, where: np.ndarray) -> int | None:
    return int(epochs[np.argmax(where)]) if where.any() else None


def draw_phases(ax, phases: Phases) -> None:
    """Dashed vertical lines at the phase boundaries, against ``epoch + 1`` (the x axis of the run's figures)."""
    for name, epoch in phases.boundaries().items():
        ax.axvline(epoch + 1, color="grey", linestyle="--", linewidth=1)
        ax.annotate(name.replace("_", " "), (epoch + 1, 1), xycoords=("data", "axes fraction"), rotation=90,
                    va="top", ha="right", fontsize="small", color="grey")
