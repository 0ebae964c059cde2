"""Sums over the rows of a whole table in bounded memory: row chunks and class sums (rep_theory.md §7)."""

from __future__ import annotations

import torch

#: Rows per chunk are chosen so that a chunk holds at most this many elements.
CHUNK_ELEMENTS = 1 << 22


def row_chunks(n_rows: int, n_cols: int) -> list[slice]:
    """Slices of ``range(n_rows)`` whose ``[rows, n_cols]`` blocks hold at most :data:`CHUNK_ELEMENTS` elements."""
    step = max(1, CHUNK_ELEMENTS // max(n_cols, 1))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def add_class_sums(out: torch.Tensor, values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``out[g] += Σ_{r: index_r = g} values_r`` in ``out``'s dtype (float64), chunk by chunk; returns ``out``.

    ``index_put_`` with ``accumulate`` adds the rows in order in one serial loop, as ``index_add_`` would (the same
    sums, to the bit), where ``index_add_`` on a CPU with two threads takes up to 60 ms a ``[9409, 128]`` block,
    with the load and the state of the thread pool (docs/speed.md, Start-up)."""
    for rows in row_chunks(len(values), values.shape[1]):
        out.index_put_((index[rows],), values[rows].to(out.dtype), accumulate=True)
    return out


def class_sums(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """``M[g] = Σ_{r: index_r = g} values_r`` in float64, ``[n, k]`` (the scatter-add of rep_theory.md §7)."""
    out = torch.zeros(n, values.shape[1], dtype=torch.float64, device=values.device)
    return add_class_sums(out, values, index)
