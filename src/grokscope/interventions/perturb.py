"""``intervention=perturb``: scale chosen frequency components of the initial embedding by ``alpha``
(circle_survival.md §5 "Perturbation"): ``F_k <- alpha F_k`` for ``k`` and ``p - k``, all else unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from grokscope.config import described, require
from grokscope.groups.spectral import apply_filter, fourier_filter
from grokscope.interventions.base import Intervention
from grokscope.interventions.frequencies import FrequencyChoice
from grokscope.interventions.targets import Target


@dataclass
class PerturbConfig(FrequencyChoice):
    """``alpha > 0``: the factor of the chosen frequencies of every operand table of ``W_E`` (so ``s_k``
    becomes ``alpha s_k`` and every other ``s_j`` is unchanged)."""

    alpha: float = described("the chosen frequencies' factor: s_k -> alpha s_k", allowed="> 0")

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require(self.alpha > 0, f"{prefix}.alpha", self.alpha, "must be > 0")

    def build(self, task, seeds, prefix: str) -> Perturb:
        self.check_for(task, prefix, "perturb")
        return Perturb(self, prefix)




class Perturb(Intervention):
    def __init__(self, cfg: PerturbConfig, prefix: str):
        self.cfg, self.prefix = cfg, prefix
        self.freqs: list[int] = []

    def at_init(self, model, task) -> None:
        target = Target.of(model, task, "W_E")
        tables = target.read(model)
        self.freqs = self.cfg.resolve(tables, self.prefix)
        filt = fourier_filter(task.modulus, dict.fromkeys(self.freqs, self.cfg.alpha), 1.0, tables.dtype)
        target.write(model, apply_filter(filt, tables))
