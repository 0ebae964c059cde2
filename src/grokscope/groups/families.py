"""Builders for the group families of rep_theory.md §2, with vectorised Cayley tables.

Indexing conventions (element 0 is always the identity):

- ``cyclic(n)``: index ``x`` is ``x mod n``; ``x ∘ y = (x + y) mod n``.
- ``dihedral(n)`` (order ``2n``): index ``i + n·x`` is ``r^i s^x``, listed
  ``e, r, …, r^{n-1}, s, rs, …, r^{n-1}s``, with ``r^a s^x · r^b s^y = r^{a + (-1)^x b} s^{x+y}``
  (so ``s r s = r^{-1}``).
- ``symmetric(n)`` / ``alternating(n)``: permutations of ``0..n-1`` in lexicographic order of their one-line
  notation ``[π(0) π(1) …]`` (the even ones only for ``alternating``). Composition applies the left factor
  first: ``(x ∘ y)(k) = y(x(k))`` (rep_theory.md §2). Note: this is *lex* order, not sympy's generation order.
- ``product(g, h)``: index ``i·|h| + j`` is ``(g_i, h_j)``, composed componentwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import einops
import numpy as np

from grokscope.groups.finite_group import FiniteGroup

#: Largest group order any builder accepts (|S_7|); tables are dense ``n × n`` int64.
MAX_ORDER = 5040
#: Largest degree accepted by ``symmetric`` and ``alternating``.
MAX_DEGREE = 7


def _check_int(family: str, n: Any, low: int, high: int, why: str = "") -> int:
    """Return ``n`` as an int in ``[low, high]`` or raise a ``ValueError`` naming the value and the range."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not low <= n <= high:
        raise ValueError(f"{family}: n must be an integer in [{low}, {high}]{why}, got {n!r}")
    return int(n)


def cyclic(n: int) -> FiniteGroup:
    """Cyclic group ``C_n``: ``x ∘ y = (x + y) mod n``."""
    n = _check_int("cyclic", n, 1, MAX_ORDER)
    x = np.arange(n)
    return FiniteGroup(f"cyclic_{n}", (x[:, None] + x[None, :]) % n, tuple(map(str, x)))


def dihedral(n: int) -> FiniteGroup:
    """Dihedral group ``D_n`` of order ``2n``: index ``i + n·x`` is ``r^i s^x``; ``s r s = r^{-1}``."""
    n = _check_int("dihedral", n, 1, MAX_ORDER // 2)
    idx = np.arange(2 * n)
    a, x = idx % n, idx // n
    rotation = (a[:, None] + (1 - 2 * x[:, None]) * a[None, :]) % n
    reflection = (x[:, None] + x[None, :]) % 2
    labels = tuple(_dihedral_label(int(i), int(s)) for i, s in zip(a, x, strict=True))
    return FiniteGroup(f"dihedral_{n}", rotation + n * reflection, labels)


def _dihedral_label(i: int, s: int) -> str:
    rotation = "" if i == 0 else "r" if i == 1 else f"r^{i}"
    return (rotation + "s" * s) or "e"


def permutation_label(perm: Sequence[int]) -> str:
    """One-line notation label, e.g. ``[0 2 1]`` for the transposition (1 2) of ``S_3``."""
    return "[" + " ".join(str(int(k)) for k in perm) + "]"


def permutations_of(group: FiniteGroup) -> np.ndarray:
    """int64 ``[n, degree]`` one-line notation of each element of a ``symmetric``/``alternating`` group."""
    return np.array([[int(k) for k in label.strip("[]").split()] for label in group.labels], dtype=np.int64)


def parity(perms: np.ndarray) -> np.ndarray:
    """``[m]`` array of 0 (even) / 1 (odd): the inversion count mod 2 of each row of ``perms``."""
    i, j = np.triu_indices(perms.shape[1], k=1)
    return (perms[:, i] > perms[:, j]).sum(axis=1) % 2


def _permutation_group(name: str, perms: np.ndarray) -> FiniteGroup:
    """Group of the lex-sorted permutation rows ``perms`` (closed under composition, identity first).

    ``(x ∘ y)(k) = y(x(k))``. Each permutation is encoded as the base-``degree`` number of its one-line
    notation (monotone in lex order), and codes are mapped back to indices with a dense lookup.
    """
    m, degree = perms.shape
    weights = degree ** np.arange(degree - 1, -1, -1)
    lookup = np.full(degree**degree, -1, dtype=np.int64)
    lookup[perms @ weights] = np.arange(m)
    # composed[x, y] = Σ_k y(x(k)) · degree^(degree-1-k), one (m, m) gather per position k.
    composed = sum(perms.T[perms[:, k]] * weights[k] for k in range(degree))
    return FiniteGroup(name, lookup[composed], tuple(permutation_label(p) for p in perms))


def _all_permutations(degree: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(degree))), dtype=np.int64).reshape(-1, degree)


def symmetric(n: int) -> FiniteGroup:
    """Symmetric group ``S_n`` in lexicographic one-line order; ``(x ∘ y)(k) = y(x(k))``."""
    n = _check_int("symmetric", n, 1, MAX_DEGREE, f" (|S_{MAX_DEGREE + 1}| is too large)")
    return _permutation_group(f"symmetric_{n}", _all_permutations(n))


def alternating(n: int) -> FiniteGroup:
    """Alternating group ``A_n``: the even permutations of ``S_n``, in lexicographic one-line order."""
    n = _check_int("alternating", n, 3, MAX_DEGREE, f" (|A_{MAX_DEGREE + 1}| is too large)")
    perms = _all_permutations(n)
    return _permutation_group(f"alternating_{n}", perms[parity(perms) == 0])


def product(g: FiniteGroup, h: FiniteGroup) -> FiniteGroup:
    """Direct product ``g × h``: index ``i·|h| + j`` is ``(g_i, h_j)``, labels ``(a, b)``."""
    if g.order * h.order > MAX_ORDER:
        raise ValueError(f"product: order {g.order}·{h.order} exceeds the maximum {MAX_ORDER}")
    table = g.table[:, None, :, None] * h.order + h.table[None, :, None, :]
    labels = tuple(f"({a}, {b})" for a, b in itertools.product(g.labels, h.labels))
    name = f"product_{g.name}_{h.name}"
    return FiniteGroup(name, einops.rearrange(table, "i j k l -> (i j) (k l)"), labels)


FAMILIES: Mapping[str, Callable[[int], FiniteGroup]] = {
    "cyclic": cyclic,
    "dihedral": dihedral,
    "symmetric": symmetric,
    "alternating": alternating,
}
"""Config name → builder for the single-parameter families; ``product`` is handled by :func:`build_group`."""


def build_group(family: str, n: int | None = None, factors: Sequence[Any] = ()) -> FiniteGroup:
    """Build a group from config values.

    Args:
        family: one of ``cyclic``, ``dihedral``, ``symmetric``, ``alternating``, ``product``.
        n: the family parameter (ignored for ``product``).
        factors: for ``product`` only, at least two factor specs, each a mapping with keys ``family``, ``n``
            (and ``factors`` for nested products) or a ``(family, n)`` pair; folded left to right.

    Raises:
        ValueError: unknown family, bad ``n`` or bad ``factors`` (the message names the value and what is
            allowed).
    """
    if family == "product":
        if isinstance(factors, str | bytes) or len(factors) < 2:
            raise ValueError(f"product: factors must list at least two groups, got {factors!r}")
        groups = [_build_factor(spec) for spec in factors]
        result = groups[0]
        for group in groups[1:]:
            result = product(result, group)
        return result
    if family not in FAMILIES:
        allowed = ", ".join(sorted([*FAMILIES, "product"]))
        raise ValueError(f"unknown group family {family!r}; allowed: {allowed}")
    return FAMILIES[family](n)


def _build_factor(spec: Any) -> FiniteGroup:
    if isinstance(spec, Mapping):
        return build_group(spec.get("family"), spec.get("n"), spec.get("factors", ()))
    if isinstance(spec, Sequence) and not isinstance(spec, str | bytes) and len(spec) == 2:
        return build_group(spec[0], spec[1])
    raise ValueError(f"product: a factor must be a mapping {{family, n}} or a (family, n) pair, got {spec!r}")
