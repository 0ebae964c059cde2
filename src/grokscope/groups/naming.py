"""Deterministic names of real irreps (metric keys, rep_theory.md §3).

Names are read off the characters, so they do not depend on how the matrices were computed. A group gets
family-specific names only if its table is exactly the one :mod:`grokscope.groups.families` builds for its
name; otherwise, and for products, the names are ``trivial`` and ``{d}d_{i}`` (``i`` counts irreps of
dimension ``d`` from 0). Input characters are per element and already in canonical order (trivial first,
then by dimension, then by descending character values on the classes in class order).

- ``cyclic_n``: ``trivial``, ``sign`` ((-1)^x, n even), ``freq_k`` with ``χ(x) = 2cos(2πkx/n)``.
- ``dihedral_n``: ``trivial``, ``sign`` (-1 on reflections), for even n ``sign_r`` (``(-1)^a`` on
  ``r^a s^x``) and ``sign_rs`` (``(-1)^{a+x}``), and ``freq_k`` with ``χ(r^a) = 2cos(2πka/n)``.
- ``symmetric_n``: ``trivial``, ``sign``, ``standard`` (``χ = #fixed points - 1``), ``standard_sign``, the
  rest ``s{n}_{d}d`` with suffixes ``_a, _b, …`` among equal dimensions in canonical order, i.e. descending
  ``χ((0 1))``: ``s6_5d_a`` = Specht (3,3), ``s6_9d_a`` = (4,2), ``s6_10d_a`` = (4,1,1). Exception kept for
  the paper's keys: ``s5_5d_a`` = (2,2,1) with ``χ((0 1)) = -1``, ``s5_5d_b`` = (3,2).
- ``alternating_n``: ``trivial``, ``standard``, the rest ``a{n}_{d}d_{letter}`` in canonical order (for A5,
  ``a5_3d_a`` has ``χ((0 1 2 3 4)) = φ``).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from grokscope.groups.families import FAMILIES, parity, permutations_of
from grokscope.groups.finite_group import FiniteGroup

_Namer = Callable[[FiniteGroup, np.ndarray, Sequence[int], int], list[str]]
_PRIORITY = {"trivial": 0, "sign": 1, "sign_r": 2, "sign_rs": 3, "standard": 4, "standard_sign": 5}


def sort_key(name: str, dim: int) -> tuple:
    """Final irrep order: trivial first, then by dimension, special names, then natural name order."""
    natural = tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
    return (name != "trivial", dim, _PRIORITY.get(name, len(_PRIORITY)), natural)


def irrep_names(group: FiniteGroup, characters: np.ndarray, dims: Sequence[int]) -> list[str]:
    """Names for the real irreps with per-element ``characters [k, n]`` (canonical order) and ``dims``."""
    match = re.fullmatch(r"([a-z]+)_(\d+)", group.name)
    namer, degree = _generic, 0
    if match and match[1] in FAMILIES:
        try:
            canonical = FAMILIES[match[1]](int(match[2]))
        except ValueError:
            canonical = None
        if canonical is not None and np.array_equal(canonical.table, group.table):
            namer, degree = _NAMERS[match[1]], int(match[2])
    names = namer(group, characters, dims, degree)
    if len(set(names)) != len(names):
        raise RuntimeError(f"group {group.name!r}: irrep names are not unique: {names}")
    return names


def _lettered(prefix: str, names: list[str | None], dims: Sequence[int], always: bool) -> list[str]:
    """Fill unnamed entries with ``{prefix}{d}d`` plus ``_a, _b, …`` among equal dimensions (in order)."""
    counts = Counter(d for name, d in zip(names, dims, strict=True) if name is None)
    seen: Counter[int] = Counter()
    result = []
    for name, d in zip(names, dims, strict=True):
        if name is None:
            name = f"{prefix}{d}d" + (
                f"_{string.ascii_lowercase[seen[d]]}" if always or counts[d] > 1 else ""
            )
            seen[d] += 1
        result.append(name)
    return result


def _match_templates(characters: np.ndarray, templates: dict[str, np.ndarray]) -> list[str | None]:
    """Give each character the first unused template name it equals (else ``None``)."""
    names: list[str | None] = []
    for chi in characters:
        name = next(
            (k for k, t in templates.items() if k not in names and np.allclose(chi, t, atol=1e-6)), None
        )
        names.append(name)
    return names


def _frequency(value: float, n: int) -> int:
    """``k`` with ``value = 2cos(2πk/n)``, ``0 ≤ k ≤ n/2``."""
    return round(n * np.arccos(np.clip(value / 2, -1.0, 1.0)) / (2 * np.pi))


def _generic(group: FiniteGroup, characters: np.ndarray, dims: Sequence[int], degree: int) -> list[str]:
    names = _match_templates(characters, {"trivial": np.ones(group.order)})
    seen: Counter[int] = Counter()
    for i, d in enumerate(dims):
        if names[i] is None:
            names[i] = f"{d}d_{seen[d]}"
            seen[d] += 1
    return names


def _cyclic(group: FiniteGroup, characters: np.ndarray, dims: Sequence[int], n: int) -> list[str]:
    one = 1 % n
    return [
        ("trivial" if chi[one] > 0 else "sign") if d == 1 else f"freq_{_frequency(chi[one], n)}"
        for chi, d in zip(characters, dims, strict=True)
    ]


def _dihedral(group: FiniteGroup, characters: np.ndarray, dims: Sequence[int], n: int) -> list[str]:
    r, s = (1 if n > 1 else 0), n
    one_dim = {(1, 1): "trivial", (1, -1): "sign", (-1, 1): "sign_r", (-1, -1): "sign_rs"}
    return [
        one_dim[round(chi[r]), round(chi[s])] if d == 1 else f"freq_{_frequency(chi[r], n)}"
        for chi, d in zip(characters, dims, strict=True)
    ]


def _permutation_templates(group: FiniteGroup, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """``(sign, #fixed points - 1)`` of every element: the sign and standard characters."""
    perms = permutations_of(group)
    return 1.0 - 2.0 * parity(perms), (perms == np.arange(degree)).sum(axis=1) - 1.0


def _symmetric(group: FiniteGroup, characters: np.ndarray, dims: Sequence[int], n: int) -> list[str]:
    sign, standard = _permutation_templates(group, n)
    templates = {"trivial": np.ones(group.order), "sign": sign, "standard": standard}
    names = _lettered(
        f"s{n}_",
        _match_templates(characters, templates | {"standard_sign": sign * standard}),
        dims,
        always=False,
    )
    if n == 5:  # the paper's keys (rep_theory.md §3): s5_5d_a = (2,2,1), χ((0 1)) = -1
        names = [{"s5_5d_a": "s5_5d_b", "s5_5d_b": "s5_5d_a"}.get(name, name) for name in names]
    return names


def _alternating(group: FiniteGroup, characters: np.ndarray, dims: Sequence[int], n: int) -> list[str]:
    _, standard = _permutation_templates(group, n)
    templates = {"trivial": np.ones(group.order), "standard": standard}
    return _lettered(f"a{n}_", _match_templates(characters, templates), dims, always=True)


_NAMERS: dict[str, _Namer] = {
    "cyclic": _cyclic,
    "dihedral": _dihedral,
    "symmetric": _symmetric,
    "alternating": _alternating,
}
