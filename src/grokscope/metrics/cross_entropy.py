"""Mean cross-entropies of modified logits, exact for any number of rows (rep_theory.md §7, §8 bug 3).

Losses are accumulated as **sums** of per-row losses over chunks of rows and divided by the row count once;
the original summed per-chunk means, inflating the losses of large groups 8-fold. They are always computed in
float64 (the restricted and excluded losses are analyses: small losses must stay resolved), with the run's
``loss.kind`` (softmax cross-entropy by default; StableMax's, Prieto et al. 2025, when the run trains with it).
"""

from __future__ import annotations

import torch
from einops import einsum, rearrange
from torch.nn.functional import cross_entropy

from grokscope.losses import Loss
from grokscope.metrics.class_sums import row_chunks


def table_loss(tables: torch.Tensor, counts: torch.Tensor, kind: str = "cross_entropy") -> torch.Tensor:
    """``[R]`` (``[R, S]`` for ``counts [S, n]``): mean cross-entropy over rows whose logits depend only on their
    label ``c``.

    ``tables [R, n, n_classes]`` holds the logits of a row with label ``c`` in row ``c``; ``counts [n]`` is the
    number of rows with label ``c`` (one row of counts per row set). Returns
    ``Σ_c counts_c CE(tables[ρ, c], c) / Σ_c counts_c`` per ``ρ`` (``CE``: the loss of ``kind``).
    """
    labels = torch.arange(tables.shape[1], device=tables.device)
    loss = Loss(kind)
    per_class = torch.stack([loss.rows(t, labels) for t in tables])  # [R, n]
    weights = counts.double()
    return einsum(per_class, weights, "r c, ... c -> r ...") / weights.sum(dim=-1)


def shifted_losses(
    values: torch.Tensor,
    rows: torch.Tensor,
    labels: torch.Tensor,
    shifts: torch.Tensor,
    unembed: torch.Tensor | None = None,
    kind: str = "cross_entropy",
) -> torch.Tensor:
    """``[R]``: ``mean_{r ∈ rows} CE(logits_r - shifts[ρ, labels_r], labels_r)`` for every ``ρ``
    (:class:`ShiftedLosses` over the rows ``rows`` of ``values [N, ...]`` and ``labels [N]``)."""
    losses = ShiftedLosses(shifts, unembed, kind)
    losses.add(values, labels, rows)
    return losses.mean()


class ShiftedLosses:
    """``mean_r CE(logits_r - shifts[ρ, labels_r], labels_r)`` for every ``ρ``, summed over the rows it is given
    chunk by chunk (:meth:`add`) and divided by their count once (:meth:`mean`, ``[R]``).

    ``logits = values`` (``[n, n_classes]``) or ``values @ unembed`` (``values [n, k]``, ``unembed
    [k, n_classes]``); ``shifts [R, n, n_classes]`` is a table over labels (a projection of the logits that
    depends on the row only through its label).

    One exponential per row and per table entry instead of one softmax per row and per ``ρ``: with
    ``m_r = max_j l_rj`` and ``t_ρc = max_j (-shifts[ρ, c, j])``,

        CE_ρr = m_r + t_ρc + log Σ_j e^{l_rj - m_r} e^{-shifts[ρ, c, j] - t_ρc} - l_rc + shifts[ρ, c, c],

    ``c = labels_r``, the sums being one batched matmul over the rows of each label. Rows whose sum underflows
    (terms below ~1e-308) are recomputed directly. ``kind="stablemax"``: StableMax's loss of each shifted row,
    computed directly (it has no such factorisation).
    """

    def __init__(self, shifts: torch.Tensor, unembed: torch.Tensor | None = None, kind: str = "cross_entropy"):
        self.kind = kind
        self.shifts = shifts.double()
        self.unembed = None if unembed is None else unembed.double()
        weights = self.shifts.neg()
        self.top = weights.amax(dim=-1)  # [R, n]
        weights.sub_(self.top[..., None]).exp_()  # in place: two [R, n, n_classes] arrays at most
        self.weights = rearrange(weights, "r c j -> c j r")  # [n, n_classes, R]
        self.totals = torch.zeros(len(shifts), dtype=torch.float64, device=shifts.device)
        self.count = 0

    def add(self, values: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor | None = None) -> None:
        """Add the rows ``rows`` (None: all) of ``values [n, ...]`` with their ``labels [n]``."""
        shifts, top = self.shifts, self.top
        n_rows = len(values) if rows is None else len(rows)
        for chunk in row_chunks(n_rows, max(shifts.shape[-1], values.shape[1])):
            idx = chunk if rows is None else rows[chunk]
            logits = values[idx].double()
            if self.unembed is not None:
                logits = logits @ self.unembed
            target = labels[idx]
            if self.kind == "stablemax":
                loss = Loss("stablemax")
                self.totals += torch.stack([loss.rows(logits - shift[target], target).sum() for shift in shifts])
                continue
            peak = logits.amax(dim=1, keepdim=True)  # [n_rows, 1]
            sums = per_label_matmul((logits - peak).exp(), target, self.weights)  # [n_rows, R]
            losses = (peak + top[:, target].T + sums.log() - logits.gather(1, target[:, None])
                      + shifts[:, target, target].T)
            bad = ~torch.isfinite(losses).all(dim=1)
            if bad.any():
                losses[bad] = torch.stack([cross_entropy(logits[bad] - shift[target[bad]], target[bad],
                                                         reduction="none") for shift in shifts], dim=1)
            self.totals += losses.sum(dim=0)
        self.count += n_rows

    def mean(self) -> torch.Tensor:
        return self.totals / self.count


def per_label_matmul(x: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``out[r] = x[r] @ weights[labels_r]`` for ``x [n_rows, k]``, ``weights [n_labels, k, m]``: one ``bmm`` over
    the rows grouped by label (zero-padded to the largest group)."""
    order = torch.argsort(labels, stable=True)
    grouped = labels[order]
    counts = torch.bincount(labels, minlength=len(weights))
    slot = torch.arange(len(labels), device=labels.device) - (counts.cumsum(0) - counts)[grouped]
    padded = x.new_zeros(len(weights), int(counts.max()), x.shape[1])
    padded[grouped, slot] = x[order]
    out = torch.empty(len(labels), weights.shape[2], dtype=x.dtype, device=x.device)
    out[order] = torch.bmm(padded, weights)[grouped, slot]
    return out
