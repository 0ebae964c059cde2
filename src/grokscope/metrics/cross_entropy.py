"""Mean cross-entropies of modified logits, exact for any number of rows (rep_theory.md §7, §8 bug 3).

Losses are accumulated as **sums** of per-row losses over chunks of rows and divided by the row count once;
the original summed per-chunk means, inflating the losses of large groups 8-fold.
"""

from __future__ import annotations

import torch
from einops import einsum
from torch.nn.functional import cross_entropy

from grokscope.metrics.group_basis import row_chunks


def table_loss(tables: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``[R]`` (``[R, S]`` for ``counts [S, n]``): mean cross-entropy over rows whose logits depend only on their
    label ``c``.

    ``tables [R, n, n_classes]`` holds the logits of a row with label ``c`` in row ``c``; ``counts [n]`` is the
    number of rows with label ``c`` (one row of counts per row set). Returns
    ``Σ_c counts_c CE(tables[ρ, c], c) / Σ_c counts_c`` per ``ρ``.
    """
    labels = torch.arange(tables.shape[1], device=tables.device)
    per_class = torch.stack([cross_entropy(t.double(), labels, reduction="none") for t in tables])  # [R, n]
    weights = counts.double()
    return einsum(per_class, weights, "r c, ... c -> r ...") / weights.sum(dim=-1)


def shifted_losses(
    values: torch.Tensor,
    rows: torch.Tensor,
    labels: torch.Tensor,
    shifts: torch.Tensor,
    unembed: torch.Tensor | None = None,
) -> torch.Tensor:
    """``[R]``: ``mean_{r ∈ rows} CE(logits_r - shifts[ρ, labels_r], labels_r)`` for every ``ρ``.

    ``logits = values`` (``[N, n_classes]``) or ``values @ unembed`` (``values [N, k]``, ``unembed
    [k, n_classes]``); ``shifts [R, n, n_classes]`` is a table over labels (a projection of the logits that
    depends on the row only through its label); ``rows`` indexes the rows to average over.
    """
    width = shifts.shape[-1]
    totals = torch.zeros(len(shifts), dtype=torch.float64, device=shifts.device)
    for chunk in row_chunks(len(rows), max(width, values.shape[1])):
        idx = rows[chunk]
        logits = values[idx].double()
        if unembed is not None:
            logits = logits @ unembed.double()
        target = labels[idx]
        for i, shift in enumerate(shifts):
            totals[i] += cross_entropy(logits - shift[target], target, reduction="sum")
    return totals / len(rows)
