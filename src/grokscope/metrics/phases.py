"""The three phases of grokking (Nanda et al. 2023 §5; nanda_progress_measures.md §5.7), placed from measured
curves, for every run at its end (``summary.json``'s ``phases``) and for ``grokscope-analyze remetric``.

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

In the terms of the paper's figures: memorisation ends where circuit formation starts, circuit formation ends
where cleanup starts, cleanup ends where the stable phase starts (the paper's main run: 1.4k, 9.4k, 13.4k). A
run's own measures are its logged test loss and its excluded loss (``progress/excluded_loss`` for addition mod
p, ``rep/total_logit_excluded_loss`` for a finite group), with the key frequencies (irreps) of each metric epoch;
``grokscope-analyze remetric`` places them again with the final ones, as the paper does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokscope.config import MetricKey
from grokscope.metrics.family import RunRecord

#: the accuracy at which a split counts as learned (grokking epochs, the phases, the stopping rule)
GROK_THRESHOLD = 0.99

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

    def ends(self) -> dict[str, int | None]:
        """The paper's terms: the epoch memorisation, circuit formation and cleanup each end."""
        return {"memorisation_end": self.circuit_formation, "circuit_formation_end": self.cleanup,
                "cleanup_end": self.stable}


def phase_boundaries(epochs: np.ndarray, excluded_loss: np.ndarray | None, test_loss: np.ndarray,
                     final_test_acc: float, excluded_epochs: np.ndarray | None = None) -> Phases:
    """The :class:`Phases` of a test loss measured at ``epochs`` (ascending) and an excluded loss measured at
    ``excluded_epochs`` (default: ``epochs``; None: not measured), as the module docstring defines them."""
    cleanup = stable = None
    if final_test_acc >= GROK_THRESHOLD:
        log_loss = np.log(test_loss)
        peak = int(np.argmax(log_loss))
        drop = log_loss[peak] - log_loss[-1]
        after = np.arange(len(epochs)) >= peak
        cleanup = _first(epochs, after & (log_loss <= log_loss[peak] - FALL_MARGIN * drop))
        stable = _first(epochs, after & (log_loss <= log_loss[-1] + FALL_MARGIN * drop))
    if excluded_loss is None or not len(excluded_loss):
        return Phases(None, cleanup, stable)
    at = epochs if excluded_epochs is None else excluded_epochs
    before = at <= cleanup if cleanup is not None else np.ones(len(at), bool)
    lowest = int(np.argmin(np.where(before, excluded_loss, np.inf)))
    circuit_formation = int(at[lowest]) if 0 < lowest < before.sum() - 1 else None
    return Phases(circuit_formation, cleanup, stable)


#: the fields of a run's ``phases``
ENDS = ("memorisation_end", "circuit_formation_end", "cleanup_end")
#: the excluded losses a run may log, in the order they are looked for
EXCLUDED_LOSSES = ("progress/excluded_loss", "rep/total_logit_excluded_loss")


def run_phases(record: RunRecord) -> dict:
    """``{"phases": {memorisation_end, circuit_formation_end, cleanup_end, reasons}}`` of a finished run's record
    (:func:`phase_boundaries` of its test loss and excluded loss); ``reasons`` says why a field is null."""
    if not record.logged("test/loss"):
        reason = "the task has no test split (the phases follow the test loss)"
        return {"phases": {**Phases(None, None, None).ends(), "reasons": dict.fromkeys(ENDS, reason)}}
    epochs, test_loss = record.series("test/loss")
    epochs = epochs - 1  # series() counts epoch + 1
    final_acc = record.history[-1].get("test/acc", 0.0)
    key = next((k for k in EXCLUDED_LOSSES if record.logged(k)), None)
    excluded_epochs, excluded = record.series(key) if key else (None, None)
    finite = np.isfinite(test_loss) & (test_loss > 0)
    phases = phase_boundaries(epochs[finite], excluded, test_loss[finite], final_acc,
                              None if excluded_epochs is None else excluded_epochs - 1)
    ends = phases.ends()
    reasons = {}
    if final_acc < GROK_THRESHOLD:
        for name in ("circuit_formation_end", "cleanup_end"):
            reasons[name] = f"the final test accuracy {final_acc:.3f} is below {GROK_THRESHOLD}: no cleanup"
    elif ends["circuit_formation_end"] is None or ends["cleanup_end"] is None:
        for name in ("circuit_formation_end", "cleanup_end"):
            if ends[name] is None:
                reasons[name] = "the log test loss did not fall from its peak within the run"
    if ends["memorisation_end"] is None:
        reasons["memorisation_end"] = (
            f"no excluded loss logged (metrics.progress or metrics.rep: {' or '.join(EXCLUDED_LOSSES)})" if key is None
            else "the lowest excluded loss before cleanup is the first or last measured epoch: no fall then rise")
    return {"phases": {**ends, "reasons": reasons}}


def _first(epochs: np.ndarray, where: np.ndarray) -> int | None:
    return int(epochs[np.argmax(where)]) if where.any() else None


#: shading of each phase in the figures, from its first epoch to the next boundary
PHASE_COLOURS = {"memorisation": "tab:blue", "circuit_formation": "tab:orange", "cleanup": "tab:green"}


def draw_phases(ax, phases: Phases) -> None:
    """The phases shaded (memorisation from epoch 0, circuit formation, cleanup, each up to the next boundary
    found) and dotted lines at the boundaries (dashed ones mark the grokking epochs), against ``epoch + 1`` (the x
    axis of the run's figures)."""
    starts = {"memorisation": 0, "circuit_formation": phases.circuit_formation, "cleanup": phases.cleanup}
    ends = {"memorisation": phases.circuit_formation, "circuit_formation": phases.cleanup, "cleanup": phases.stable}
    for name, start in starts.items():
        end = ends[name]
        if start is not None and end is not None:
            ax.axvspan(start + 1, end + 1, color=PHASE_COLOURS[name], alpha=0.08, lw=0,
                       label=name.replace("_", " "))
    for name, epoch in phases.boundaries().items():
        ax.axvline(epoch + 1, color="grey", linestyle=":", linewidth=1)
        ax.annotate(name.replace("_", " "), (epoch + 1, 1), xycoords=("data", "axes fraction"), rotation=90,
                    va="top", ha="right", fontsize="small", color="grey")


def phases_of(summary_phases: dict | None) -> Phases | None:
    """The :class:`Phases` of a summary's ``phases`` field (None: none recorded)."""
    if not summary_phases:
        return None
    return Phases(summary_phases.get("memorisation_end"), summary_phases.get("circuit_formation_end"),
                  summary_phases.get("cleanup_end"))


_RULES = "nanda_progress_measures.md §5.7; the rules of grokscope.metrics.phases"
#: what every run adds to ``summary.json`` at its end
KEYS = (
    MetricKey("phases.memorisation_end", "the epoch memorisation ends and circuit formation starts: the lowest "
              "excluded loss before cleanup (null, with phases.reasons, when no excluded loss is logged or it "
              "does not fall and rise)", r"rg\min_{e \le e_{	ext{cleanup}}} L_{	ext{excluded}}(e)",
              f"Nanda et al. 2023, §5.3 ({_RULES})", "plots/curves.png", "summary"),
    MetricKey("phases.circuit_formation_end", "the epoch cleanup starts: the log test loss has fallen 10% of the "
              "way from its peak to its final value (null unless the final test accuracy reaches 0.99)",
              r"\min\{e > e_{	ext{peak}} : \log L_{	ext{test}}(e) \le \ell_{\max} - 0.1(\ell_{\max} - "
              r"\ell_{	ext{end}})\}", f"Nanda et al. 2023, §5.1 ({_RULES})", "plots/curves.png", "summary"),
    MetricKey("phases.cleanup_end", "the epoch the stable phase starts: the log test loss has fallen 90% of the "
              "way (null unless the final test accuracy reaches 0.99)",
              r"\min\{e > e_{	ext{peak}} : \log L_{	ext{test}}(e) \le \ell_{	ext{end}} + 0.1(\ell_{\max} - "
              r"\ell_{	ext{end}})\}", f"Nanda et al. 2023, §5.1 ({_RULES})", "plots/curves.png", "summary"),
    MetricKey("phases.reasons.{field}", "why a phase field is null", "", _RULES, "", "summary"),
)
