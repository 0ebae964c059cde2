"""``intervention=ablate``: keep only, or remove, Fourier frequencies (circle_survival.md §5 "Ablation", §6.6) or
irreps of a finite group (rep_theory.md) of ``W_E`` or ``W_U``, at init, after every optimizer step, or only in
evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grokscope.config import require_choice
from grokscope.interventions.base import Intervention
from grokscope.interventions.frequencies import ComponentChoice
from grokscope.interventions.tables import TARGETS, Table, apply_filter, fourier_filter, irrep_filter, tables
from grokscope.metrics.evaluation import evaluate, split_scores
from grokscope.metrics.group_basis import group_basis


@dataclass
class AblateConfig(ComponentChoice):
    """``target``: ``W_E`` (every operand table) or ``W_U`` (the answers' columns). ``mode``: ``keep``
    ``F <- F 1[k in S u -S u D]`` or ``remove`` ``F <- F 1[k not in S u -S u D]``, with ``D = {0}`` when ``dc``;
    for irreps ``V <- G V`` with ``G = sum_{rho in S u D} P_rho`` (keep) or ``I - G`` (remove), ``D`` the trivial
    irrep when ``dc``.
    ``when``: ``init`` (the initial weights), ``persistent`` (init and after every optimizer step) or ``eval``
    (training unchanged; ``ablated/{split}/loss|acc`` logged with the filtered weights on the metrics cadence).
    """

    target: str
    mode: str
    dc: bool
    when: str

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require_choice(f"{prefix}.target", self.target, TARGETS)
        require_choice(f"{prefix}.mode", self.mode, ("keep", "remove"))
        require_choice(f"{prefix}.when", self.when, ("init", "persistent", "eval"))

    def build(self, task, seeds, prefix: str) -> Ablate:
        self.check_for(task, prefix, "ablate")
        return Ablate(self, prefix)




class Ablate(Intervention):
    """Multiplies the chosen components by 1 and the others by 0 (``keep``), or the reverse (``remove``), with the
    real filter ``G = F^T diag(g) F`` of :func:`~grokscope.interventions.tables.fourier_filter` or
    ``G = Q diag(g) Q^T = sum_rho g_rho P_rho`` of :func:`~grokscope.interventions.tables.irrep_filter`."""

    def __init__(self, cfg: AblateConfig, prefix: str):
        self.cfg, self.prefix = cfg, prefix
        self.tables: list[Table] = []
        self.filter: torch.Tensor | None = None
        self.freqs: list[int] = []
        self.irreps: list[str] = []
        if cfg.when == "persistent":
            self.after_step = self._after_step

    def at_init(self, model, task) -> None:
        cfg = self.cfg
        self.tables = tables(model, task, cfg.target, f"{self.prefix}.target")
        chosen, other = (1.0, 0.0) if cfg.mode == "keep" else (0.0, 1.0)
        dc, dtype = chosen if cfg.dc else other, self.tables[0].param.dtype
        if cfg.on_irreps(task):
            basis = group_basis(task.group)
            self.irreps = cfg.resolve_irreps(self.tables, basis, self.prefix)
            self.filter = irrep_filter(basis, dict.fromkeys(self.irreps, chosen) | {basis.names[0]: dc}, other, dtype)
        else:
            self.freqs = cfg.resolve(self.tables, self.prefix)
            self.filter = fourier_filter(task.modulus, dict.fromkeys(self.freqs, chosen) | {0: dc}, other, dtype)
        if cfg.when != "eval":
            apply_filter(self.filter, self.tables)

    def _after_step(self, model) -> None:
        device = self.tables[0].param.device
        if self.filter.device != device:
            self.filter = self.filter.to(device)
        apply_filter(self.filter, self.tables)

    def metrics(self) -> list:
        return [AblatedScores(self)] if self.cfg.when == "eval" else []


class AblatedScores:
    """``ablated/{split}/loss`` and ``ablated/{split}/acc``: the split scores with the ablation applied to a
    copy of the weights (the model is restored afterwards)."""

    hooks: tuple[str, ...] = ()

    def __init__(self, ablation: Ablate):
        self.ablation = ablation

    def __call__(self, model, task, ev) -> dict[str, float]:
        tabs = self.ablation.tables
        saved = [t.read().detach().clone() for t in tabs]
        self.ablation._after_step(model)
        scores = split_scores(evaluate(model, task, ev.row_loss.dtype), task)
        for t, value in zip(tabs, saved):
            t.write(value)
        return {f"ablated/{key}": value for key, value in scores.items()}
