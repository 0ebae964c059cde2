"""One group's irreps as torch tensors, shared by the representation-theory metrics (rep_theory.md §6–7)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from grokscope.groups import FiniteGroup, irreps

#: Rows per chunk are chosen so that a chunk holds at most this many elements.
CHUNK_ELEMENTS = 1 << 22


def row_chunks(n_rows: int, n_cols: int) -> list[slice]:
    """Slices of ``range(n_rows)`` whose ``[rows, n_cols]`` blocks hold at most :data:`CHUNK_ELEMENTS` elements."""
    step = max(1, CHUNK_ELEMENTS // max(n_cols, 1))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def class_sums(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """``M[g] = Σ_{r: index_r = g} values_r`` in float64, ``[n, k]`` (the scatter-add of rep_theory.md §7)."""
    out = torch.zeros(n, values.shape[1], dtype=torch.float64, device=values.device)
    for rows in row_chunks(len(values), values.shape[1]):
        out.index_add_(0, index[rows], values[rows].double())
    return out


@dataclass(frozen=True)
class GroupBasis:
    """The real irreps of a group of order ``n`` (``R`` of them, trivial first), as float64 tensors.

    Attributes:
        names: irrep names (the metric keys).
        characters: ``[R, n]``, ``χ_ρ(g)``.
        norms: ``[R]``, ``<χ_ρ, χ_ρ> = (1/n) Σ_g χ_ρ(g)²`` (2 for complex type, e.g. cyclic ``freq_k``).
        basis: ``[n, n]`` orthogonal; the columns in ``slices[ρ]`` are an orthonormal basis ``Q_ρ`` of the span
            of the matrix coefficients ``g ↦ ρ(g)_ij``, rank-correct (2 columns for cyclic ``freq_k``; the
            original's 4-column QR was bug 4 of rep_theory.md §8).
        slices: column range of each irrep in ``basis``.
        quotient: long ``[n, n]``, index of ``c ∘ z⁻¹``; ``χ_ρ[quotient]`` is the character cube
            ``T_ρ[a, b, z]`` of every row whose output is ``c = a ∘ b`` (rep_theory.md §6).
    """

    names: tuple[str, ...]
    characters: torch.Tensor
    norms: torch.Tensor
    basis: torch.Tensor
    slices: tuple[slice, ...]
    quotient: torch.Tensor

    @property
    def order(self) -> int:
        return self.basis.shape[0]

    def irrep_power(self, values: torch.Tensor) -> torch.Tensor:
        """``[R]``: ``||Q_ρᵀ V||_F²`` of ``values [n, k]`` (functions on the group, one per column)."""
        coefficients = (self.basis.T @ values.double()).pow(2).sum(dim=1)  # [n]
        return torch.stack([coefficients[cols].sum() for cols in self.slices])

    def projections(self, values: torch.Tensor) -> torch.Tensor:
        """``[R, n, k]``: ``Q_ρ Q_ρᵀ V`` of ``values [n, k]`` for every irrep (they sum to ``V``)."""
        coefficients = self.basis.T @ values.double()
        return torch.stack([self.basis[:, cols] @ coefficients[cols] for cols in self.slices])


@functools.lru_cache(maxsize=8)
def group_basis(group: FiniteGroup, device: torch.device | str = "cpu") -> GroupBasis:
    """The :class:`GroupBasis` of ``group`` on ``device`` (irreps from :func:`grokscope.groups.irreps`, cached)."""
    result = irreps(group)
    ranks = np.cumsum([0, *(irrep.coefficient_rank for irrep in result)])
    return GroupBasis(
        names=tuple(irrep.name for irrep in result),
        characters=torch.tensor(np.stack([irrep.character for irrep in result]), device=device),
        norms=torch.tensor([float(irrep.commutant_dim) for irrep in result], dtype=torch.float64, device=device),
        basis=torch.tensor(np.concatenate([irrep.coefficient_basis() for irrep in result], axis=1), device=device),
        slices=tuple(slice(int(lo), int(hi)) for lo, hi in zip(ranks[:-1], ranks[1:])),
        quotient=torch.tensor(group.table[:, group.inverse], device=device),
    )
