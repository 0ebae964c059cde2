"""Finite groups given by their Cayley table (rep_theory.md §1–2).

Elements are the indices ``0..n-1``; ``table[a, b]`` is the index of ``a ∘ b`` and index 0 is always the
identity. How indices map to concrete elements (rotations, permutations, ...) is fixed by the builders in
:mod:`grokscope.groups.families`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Associativity is checked in chunks of at most this many (a, b, c) triples.
_ASSOCIATIVITY_CHUNK = 1 << 22


@dataclass(frozen=True, eq=False)
class FiniteGroup:
    """A finite group as a Cayley table.

    Attributes:
        name: canonical, filename-safe key (e.g. ``cyclic_12``, ``symmetric_5``); used for irrep naming and
            cache file names.
        table: int64 ``[n, n]`` read-only array, ``table[a, b]`` = index of ``a ∘ b``.
        labels: human-readable label of each element.

    Two groups are equal when their names and tables are equal, so groups can key caches.
    """

    name: str
    table: np.ndarray
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        table = np.array(self.table, dtype=np.int64)
        n = table.shape[0] if table.ndim == 2 else -1
        if table.shape != (n, n) or n < 1:
            raise ValueError(
                f"group {self.name!r}: table must be a non-empty square matrix, got {table.shape}"
            )
        if table.min() < 0 or table.max() >= n:
            raise ValueError(f"group {self.name!r}: table entries must lie in [0, {n})")
        labels = tuple(str(label) for label in self.labels)
        if len(labels) != n or len(set(labels)) != n:
            raise ValueError(f"group {self.name!r}: need {n} distinct labels, got {len(set(labels))}")
        table.setflags(write=False)
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "labels", labels)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FiniteGroup):
            return NotImplemented
        return self.name == other.name and np.array_equal(self.table, other.table)

    def __hash__(self) -> int:
        return hash((self.name, self.digest))

    def __repr__(self) -> str:
        return f"FiniteGroup(name={self.name!r}, order={self.order})"

    @property
    def order(self) -> int:
        """Number of elements ``n``."""
        return self.table.shape[0]

    @property
    def identity(self) -> int:
        """Index of the identity; 0 by convention in every family."""
        return 0

    @cached_property
    def digest(self) -> str:
        """Short SHA-256 of the table bytes (cache keys)."""
        return hashlib.sha256(np.ascontiguousarray(self.table).tobytes()).hexdigest()[:12]

    @cached_property
    def inverse(self) -> np.ndarray:
        """int64 ``[n]`` with ``table[g, inverse[g]] == identity`` (rep_theory.md §1)."""
        rows, cols = np.nonzero(self.table == self.identity)
        inverse = np.empty(self.order, dtype=np.int64)
        inverse[rows] = cols
        inverse.setflags(write=False)
        return inverse

    @cached_property
    def class_index(self) -> np.ndarray:
        """int64 ``[n]``: conjugacy class of each element.

        Classes are numbered by their smallest element, so the class of the identity is 0.
        """
        h = np.arange(self.order)[:, None]
        conjugates = self.table[self.table[h, np.arange(self.order)[None, :]], self.inverse[h]]  # h g h⁻¹
        _, index = np.unique(conjugates.min(axis=0), return_inverse=True)
        index = index.astype(np.int64)
        index.setflags(write=False)
        return index

    def conjugacy_classes(self) -> list[np.ndarray]:
        """Element indices of each conjugacy class (sorted), ordered by smallest element; identity first."""
        order = np.argsort(self.class_index, kind="stable")
        sizes = np.bincount(self.class_index)
        return np.split(order, np.cumsum(sizes)[:-1])

    def check(self) -> None:
        """Verify the group axioms on the table; raise ``ValueError`` naming the first failed axiom.

        Checks: Latin square (every row and column a permutation), index 0 is a two-sided identity, two-sided
        inverses, and associativity ``(ab)c = a(bc)`` for all ``n³`` triples (vectorised, in chunks).
        """
        t, n = self.table, self.order
        ids = np.arange(n)
        if not (np.all(np.sort(t, axis=0) == ids[:, None]) and np.all(np.sort(t, axis=1) == ids[None, :])):
            raise ValueError(f"group {self.name!r}: table is not a Latin square")
        if not (np.array_equal(t[0], ids) and np.array_equal(t[:, 0], ids)):
            raise ValueError(f"group {self.name!r}: element 0 is not the identity")
        if not (np.all(t[ids, self.inverse] == 0) and np.all(t[self.inverse, ids] == 0)):
            raise ValueError(f"group {self.name!r}: inverses are not two-sided")
        step = max(1, _ASSOCIATIVITY_CHUNK // (n * n))
        for start in range(0, n, step):
            rows = t[start : start + step]
            if not np.array_equal(t[rows], rows[:, t]):
                raise ValueError(f"group {self.name!r}: table is not associative")
