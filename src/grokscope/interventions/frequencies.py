"""Choosing frequencies: by number (``freqs``) or by rank of the initial signal (``strongest``)."""

from __future__ import annotations

from dataclasses import dataclass

from grokscope.config import Checked, require
from grokscope.interventions.tables import Table, check_frequencies, require_cyclic, strongest


@dataclass
class FrequencyChoice(Checked):
    """Exactly one of ``freqs: [k, ...]`` (``k`` in ``1..(p-1)/2``, each standing for ``+-k``) or
    ``strongest: n`` (the ``n`` frequencies of largest signal ``s_k`` when the intervention starts, so that a
    sweep can say "the strongest frequency" for every seed)."""

    freqs: list[int] | None
    strongest: int | None

    def check(self, prefix: str) -> None:
        require((self.freqs is None) != (self.strongest is None), f"{prefix}.freqs", self.freqs,
                "set exactly one of freqs (a list) or strongest (a count)")
        if self.strongest is not None:
            require(self.strongest >= 1, f"{prefix}.strongest", self.strongest, "must be an integer >= 1")

    def check_for(self, task, prefix: str, name: str) -> None:
        """``task`` must be cyclic and ``freqs`` in range for its ``p``."""
        p = require_cyclic(task, prefix, name)
        if self.freqs is not None:
            check_frequencies(f"{prefix}.freqs", self.freqs, p)

    def resolve(self, tabs: list[Table], prefix: str) -> list[int]:
        if self.freqs is not None:
            return list(self.freqs)
        return strongest(tabs, self.strongest, f"{prefix}.strongest")
