"""``intervention=ablate``: keep only, or remove, Fourier frequencies (circle_survival.md §5 "Ablation", §6.6) or
irreps of a finite group (rep_theory.md) of ``W_E`` or ``W_U``, at init, after every optimizer step, or only in
evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from grokscope.config import MetricKey, described, require_choice
from grokscope.groups.basis import group_basis
from grokscope.groups.spectral import apply_filter, fourier_filter, irrep_filter
from grokscope.interventions.base import Intervention
from grokscope.interventions.frequencies import ComponentChoice
from grokscope.interventions.targets import TARGETS, Target

MODES = ("keep", "remove")
WHEN = ("init", "persistent", "eval")


@dataclass
class AblateConfig(ComponentChoice):
    """``target``: ``W_E`` (every operand table) or ``W_U`` (the answers' columns). ``mode``: ``keep``
    ``F <- F 1[k in S u -S u D]`` or ``remove`` ``F <- F 1[k not in S u -S u D]``, with ``D = {0}`` when ``dc``;
    for irreps ``V <- G V`` with ``G = sum_{rho in S u D} P_rho`` (keep) or ``I - G`` (remove), ``D`` the trivial
    irrep when ``dc``.
    ``when``: ``init`` (the initial weights), ``persistent`` (init and after every optimizer step) or ``eval``
    (training unchanged; ``ablated/{split}/loss|acc`` logged with the filtered weights on the metrics cadence).
    """

    target: str = described("W_E (every operand table) or W_U (the answers' columns)", choices=TARGETS)
    mode: str = described("keep only the chosen components, or remove them", choices=MODES)
    dc: bool = described("the constant (k = 0; the trivial irrep) belongs to the set kept or removed")
    when: str = described("init: the initial weights; persistent: also after every optimizer step; eval: training "
                          "unchanged, ablated/... logged", choices=WHEN)

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require_choice(f"{prefix}.target", self.target, TARGETS)
        require_choice(f"{prefix}.mode", self.mode, MODES)
        require_choice(f"{prefix}.when", self.when, WHEN)

    def build(self, task, seeds, prefix: str) -> Ablate:
        self.check_for(task, prefix, "ablate")
        return Ablate(self, prefix)




class Ablate(Intervention):
    """Multiplies the chosen components by 1 and the others by 0 (``keep``), or the reverse (``remove``), with the
    real filter ``G = F^T diag(g) F`` of :func:`~grokscope.groups.spectral.fourier_filter` or
    ``G = Q diag(g) Q^T = sum_rho g_rho P_rho`` of :func:`~grokscope.groups.spectral.irrep_filter`.

    The components are resolved and the filter built once, at init; every application acts on the model it is
    handed (where the target lies, :class:`Target`, is the same for every model of the task)."""

    def __init__(self, cfg: AblateConfig, prefix: str):
        self.cfg, self.prefix = cfg, prefix
        self.target: Target | None = None
        self.filter: torch.Tensor | None = None
        self.freqs: list[int] = []
        self.irreps: list[str] = []
        if cfg.when == "persistent":
            self.after_step = self.apply

    def at_init(self, model, task) -> None:
        cfg = self.cfg
        self.target = Target.of(model, task, cfg.target)
        tables = self.target.read(model)
        chosen, other = (1.0, 0.0) if cfg.mode == "keep" else (0.0, 1.0)
        dc, dtype = chosen if cfg.dc else other, tables.dtype
        if cfg.on_irreps(task):
            basis = group_basis(task.group)
            self.irreps = cfg.resolve_irreps(tables, basis, self.prefix)
            self.filter = irrep_filter(basis, dict.fromkeys(self.irreps, chosen) | {basis.names[0]: dc}, other, dtype)
        else:
            self.freqs = cfg.resolve(tables, self.prefix)
            self.filter = fourier_filter(task.modulus, dict.fromkeys(self.freqs, chosen) | {0: dc}, other, dtype)
        if cfg.when != "eval":
            self.apply(model)

    def apply(self, model) -> None:
        """``v <- G v`` for every table of the target in ``model`` (in place, on its device: the filter and the
        target's index move there once, so that applying it after every step does not sync with the host)."""
        device = model.W_E.device
        if self.filter.device != device:
            self.filter, self.target = self.filter.to(device), self.target.to(device)
        self.target.write(model, apply_filter(self.filter, self.target.read(model)))

    @contextmanager
    def applied(self, model) -> Iterator[None]:
        """``model`` with the ablation applied, restored exactly afterwards."""
        saved = self.target.read(model).detach().clone()
        self.apply(model)
        try:
            yield
        finally:
            self.target.write(model, saved)

    def metrics(self) -> list:
        return [AblatedScores(self)] if self.cfg.when == "eval" else []


class AblatedScores:
    """``ablated/{split}/loss`` (mean loss) and ``ablated/{split}/acc`` of every evaluated split: the model it is
    handed with the ablation applied (:meth:`Ablate.applied`), forwards at the answer position over the table in
    chunks of the evaluation's ``chunk_rows`` (only per-split sums are kept), with the evaluation's loss (kind and
    dtype)."""

    hooks: tuple[str, ...] = ()

    def __init__(self, ablation: Ablate):
        self.ablation = ablation

    @torch.no_grad()
    def __call__(self, model, task, ev) -> dict[str, float]:
        masks = torch.stack([task.masks[mask] for mask in task.eval_masks]).to(ev.row_loss.dtype)  # [n_masks, N]
        sums = torch.zeros(2, len(masks), dtype=ev.row_loss.dtype, device=masks.device)  # loss, correct
        was_training = model.training
        model.eval()
        with self.ablation.applied(model):
            for start in range(0, len(task.labels), ev.chunk_rows):
                rows = slice(start, start + ev.chunk_rows)
                logits, labels = model(task.tokens[rows], last_only=True), task.labels[rows]
                scores = torch.stack([ev.loss.rows(logits, labels), (logits.argmax(dim=-1) == labels).to(sums.dtype)])
                sums += scores @ masks[:, rows].T
        model.train(was_training)
        means = (sums / masks.sum(dim=1)).tolist()
        return {f"ablated/{mask}/{name}": means[i][j] for i, name in enumerate(("loss", "acc"))
                for j, mask in enumerate(task.eval_masks)}


#: What ``intervention.ablate.when=eval`` logs on the metrics cadence: :class:`AblatedScores`, with ``\tilde\ell``
#: the logits of the model whose ``target`` keeps (or lacks) the components ``S``.
KEYS = (
    MetricKey("ablated/{split}/loss", "mean loss (the run's loss.kind in loss_dtype) of the split with the ablation "
              "applied",
              r"\frac{1}{\lvert S\rvert}\sum_{r \in S} -\log \operatorname{softmax}(\tilde\ell_r)_{y_r}",
              "Nanda et al. 2023, §4 (ablations in Fourier space)"),
    MetricKey("ablated/{split}/acc", "accuracy of the split with the ablation applied",
              r"\frac{1}{\lvert S\rvert}\sum_{r \in S} \mathbb 1\big[\arg\max_c \tilde\ell_{r,c} = y_r\big]",
              "Nanda et al. 2023, §4 (ablations in Fourier space)"),
)
