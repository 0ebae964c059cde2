"""Stopping when a run's story is over: ``stop.event`` and ``stop.after_epochs`` (``max_epochs`` stays the cap).

At each logged epoch ``t`` the rule reads the rows logged before ``t`` (so a resumed run decides as the
uninterrupted one did) and places the event:

- ``test_acc``: the first logged epoch at which the test accuracy reached ``GROK_THRESHOLD``;
- ``cleanup_end``: the end of cleanup (:func:`grokscope.metrics.phases.phase_boundaries` on the test loss logged so
  far; none while the latest test accuracy is below the threshold). It moves later while the test loss still
  falls, so the run ends once the loss has settled for ``after_epochs`` epochs.

The run then ends at ``event + after_epochs`` (at ``t`` if that has passed), or at ``max_epochs``; an ensemble
ends when every member's rule has fired. The end epoch is the module's ``max_epochs``: the last epoch's metrics,
checkpoint and snapshot follow it as they follow the cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grokscope.metrics.phases import GROK_THRESHOLD, phase_boundaries


@dataclass(frozen=True)
class StopRule:
    """``event`` (``test_acc`` or ``cleanup_end``), ``after_epochs`` and the cap ``max_epochs``."""

    event: str
    after_epochs: int
    max_epochs: int

    def event_epoch(self, history: list[dict], before: int) -> int | None:
        """The event's epoch from the rows logged before epoch ``before`` (None: not yet)."""
        rows = [row for row in history if row["epoch"] < before and "test/acc" in row]
        if self.event == "test_acc":
            return next((int(row["epoch"]) for row in rows if row["test/acc"] >= GROK_THRESHOLD), None)
        if not rows or rows[-1]["test/acc"] < GROK_THRESHOLD:
            return None
        epochs = np.array([row["epoch"] for row in rows])
        loss = np.array([row["test/loss"] for row in rows])
        finite = np.isfinite(loss) & (loss > 0)
        return phase_boundaries(epochs[finite], None, loss[finite], rows[-1]["test/acc"]).stable

    def end(self, histories: Sequence[list[dict]], epoch: int) -> int:
        """The epoch the run ends at, as the rows logged before ``epoch`` place it."""
        events = [self.event_epoch(history, epoch) for history in histories]
        if any(event is None for event in events):
            return self.max_epochs
        return min(self.max_epochs, max(epoch, max(events) + self.after_epochs))

    def apply(self, module, histories: Sequence[list[dict]]) -> None:
        """Set ``module.max_epochs`` to :meth:`end` at the module's epoch."""
        module.max_epochs = self.end(histories, module.epoch)

    def stopped(self, history: list[dict], epochs: int) -> dict:
        """What ``summary.json``'s ``stopped`` says of a run that ran ``epochs`` epochs."""
        event = self.event_epoch(history, epochs)
        if epochs >= self.max_epochs or event is None:
            return {"by": "max_epochs", "event": self.event, "event_epoch": event}
        return {"by": "stop rule", "event": self.event, "event_epoch": event, "after_epochs": self.after_epochs}
