"""A group's real irreps as torch tensors: characters, the orthonormal basis ``Q`` of isotypic subspaces and the
quotient table, shared by the representation-theory metrics and the irrep filters (rep_theory.md §6–7)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from grokscope.groups.finite_group import FiniteGroup
from grokscope.groups.irreps import irreps


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

    @property
    def dims(self) -> torch.Tensor:
        """Long ``[R]``: the dimension of each isotypic subspace (the number of columns of ``Q_ρ``)."""
        return torch.tensor([cols.stop - cols.start for cols in self.slices])

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
