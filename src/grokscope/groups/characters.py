"""Irreducible characters from the Cayley table alone (Burnside's class-sum method).

Class sums ``C_i`` span the centre of the group algebra and multiply as ``C_i C_j = Σ_k c_ijk C_k`` with
``c_ijk = #{x ∈ C_i : x⁻¹ z_k ∈ C_j}`` (``z_k`` a fixed element of class ``k``). Each central idempotent
``e_χ = (χ(1)/n) Σ_g conj(χ(g)) g`` is a common eigenvector of left multiplication by every ``C_i``, with
eigenvalue ``ω_χ(C_i) = h_i χ(z_i) / χ(1)``. In the orthonormal basis ``C_k / √h_k`` the adjoint of
multiplication by ``C_i`` is multiplication by ``C_{i*}`` (the class of inverses), so a combination
``Σ λ_i C_i`` with ``λ_{i*} = conj(λ_i)`` is Hermitian; for random ``λ`` its eigenvalues are distinct and its
unit eigenvectors are ``v_k = conj(χ(z_k)) √(h_k / n)`` up to phase. ``eigh`` thus gives every complex
character at once, to machine precision.

Real irreducible representations (rep_theory.md §3) follow from the Frobenius–Schur indicator
``ν(χ) = (1/n) Σ_g χ(g²)``: ``+1`` real type (character ``χ``), ``0`` complex type (a real form of dimension
``2χ(1)`` with character ``χ + conj(χ)``), ``-1`` quaternionic type (real form with character ``2χ``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from grokscope.groups.finite_group import FiniteGroup

Kind = Literal["real", "complex", "quaternionic"]
#: ``<χ, χ>`` of a real irrep's character = real dimension of its commutant (R, C or H).
COMMUTANT_DIM: dict[str, int] = {"real": 1, "complex": 2, "quaternionic": 4}
_KIND_OF_INDICATOR: dict[int, Kind] = {1: "real", 0: "complex", -1: "quaternionic"}
_TOL = 1e-6


@dataclass(frozen=True)
class ClassData:
    """Conjugacy-class bookkeeping: ``index[g]`` class of ``g``, ``sizes[k]`` = ``h_k``, ``reps[k]``."""

    index: np.ndarray
    sizes: np.ndarray
    reps: np.ndarray

    @classmethod
    def of(cls, group: FiniteGroup) -> ClassData:
        _, reps, sizes = np.unique(group.class_index, return_index=True, return_counts=True)
        return cls(group.class_index, sizes, reps)


def complex_characters(group: FiniteGroup, rng: np.random.Generator, attempts: int = 8) -> np.ndarray:
    """All complex irreducible characters, complex ``[r, r]`` (character × class), by the method above."""
    data, n = ClassData.of(group), group.order
    r = len(data.sizes)
    inverse_class = data.index[group.inverse[data.reps]]
    # Entry (x, k) contributes λ_{class(x)} to A[k, class(x⁻¹ z_k)], so A[k, j] = Σ_i λ_i c_ijk.
    target = data.index[group.table[group.inverse][:, data.reps]]
    flat = (np.arange(r)[None, :] * r + target).ravel()
    scale = np.sqrt(data.sizes[:, None] / data.sizes[None, :])
    for _ in range(attempts):
        z = rng.standard_normal(r) + 1j * rng.standard_normal(r)
        weights = np.repeat((z + np.conj(z[inverse_class]))[data.index], r)
        a = np.bincount(flat, weights.real, r * r) + 1j * np.bincount(flat, weights.imag, r * r)
        hermitian = a.reshape(r, r) * scale
        values, vectors = np.linalg.eigh((hermitian + hermitian.conj().T) / 2)
        if r == 1 or np.diff(values).min() > 1e-9 * max(1.0, np.abs(values).max()):
            break
    else:
        raise RuntimeError(f"group {group.name!r}: could not separate the characters")
    vectors = vectors / (vectors[0] / np.abs(vectors[0]))  # phase: χ(e) > 0
    return np.conj(vectors.T) * np.sqrt(n / data.sizes)[None, :]


def frobenius_schur(group: FiniteGroup, characters: np.ndarray) -> np.ndarray:
    """Indicators ``ν(χ) = (1/n) Σ_g χ(g²)`` (int ``[r]``, values in {-1, 0, 1}) for class-wise characters."""
    ids = np.arange(group.order)
    squares = np.bincount(group.class_index[group.table[ids, ids]], minlength=characters.shape[1])
    nu = characters @ squares / group.order
    rounded = np.rint(nu.real).astype(np.int64)
    if np.abs(nu - rounded).max() > _TOL or np.abs(rounded).max() > 1:
        raise RuntimeError(f"group {group.name!r}: Frobenius–Schur indicators {nu} are not in {{-1, 0, 1}}")
    return rounded


def real_characters(group: FiniteGroup, rng: np.random.Generator) -> list[tuple[np.ndarray, Kind]]:
    """Characters (real ``[r]`` per class) and kinds of all real irreducible representations.

    A complex-type pair ``{χ, conj χ}`` yields one entry with character ``2 Re χ``.
    """
    chars = complex_characters(group, rng)
    sizes = ClassData.of(group).sizes
    # pairing[i, j] = <χ_i, conj χ_j>: 1 iff χ_j = conj χ_i.
    pairing = (chars * sizes) @ chars.T / group.order
    result: list[tuple[np.ndarray, Kind]] = []
    for i, nu in enumerate(frobenius_schur(group, chars)):
        partner = int(np.argmax(np.abs(pairing[i])))
        if abs(pairing[i, partner] - 1) > _TOL or (nu != 0) != (partner == i):
            raise RuntimeError(f"group {group.name!r}: character {i} has no consistent conjugate")
        if partner >= i:
            scale = 1.0 if nu == 1 else 2.0
            result.append((scale * chars[i].real, _KIND_OF_INDICATOR[int(nu)]))
    return result
