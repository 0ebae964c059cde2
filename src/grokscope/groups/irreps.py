"""Real irreducible representations of a group given only by its Cayley table (rep_theory.md §3, §7).

Construction (numerical, no hard-coded generators):

1. Real characters and their kinds from :mod:`grokscope.groups.characters` (Burnside + Frobenius–Schur).
2. For a real character ``χ`` of dimension ``d``, the isotypic projector of the left regular representation
   ``(L_g f)(y) = f(g⁻¹y)`` is ``P[g, g'] = d / (n <χ,χ>) · χ(g g'⁻¹)`` (rep_theory.md §7); its image ``V``
   (dimension ``d² / <χ,χ>``) holds ``d / <χ,χ>`` copies of the irrep. Its columns are the translates
   ``g ↦ χ(g x⁻¹)``; an orthonormal basis ``Q`` of ``V`` is the SVD of a random subset of them.
3. If ``V`` holds several copies, they are split by a right multiplication ``(R_a f)(y) = Σ_h a(h) f(y h⁻¹)``
   with a sparse random ``a = a∘inv`` (a symmetric matrix commuting with every ``L_g``): the eigenspace of
   ``Qᵀ R_a Q`` for its top eigenvalue is one irreducible copy ``U`` (``n × d``, orthonormal columns).
4. ``ρ(g) = Uᵀ L_g U``: orthogonal matrices with ``ρ(x) ρ(y) = ρ(x∘y)`` under the table convention. As
   ``L_g U = U ρ(g)``, they are read off ``d`` well-conditioned pivot rows ``S``: ``U[g⁻¹S] = U[S] ρ(g)``.
   Each irrep is verified (orthogonality, trace, homomorphism on sampled pairs) before it is returned.

Results are cached in-process and on disk (``.npz`` per group, written atomically).
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import einops
import numpy as np

from grokscope.groups.characters import COMMUTANT_DIM, ClassData, Kind, real_characters
from grokscope.groups.finite_group import FiniteGroup
from grokscope.groups.naming import irrep_names, sort_key

_CACHE_FORMAT = 1
_ATOL = 1e-8


@dataclass(frozen=True, eq=False)
class Irrep:
    """A real irreducible representation.

    Attributes:
        name: metric key (see :mod:`grokscope.groups.naming`).
        dim: real dimension ``d``.
        matrices: float64 ``[n, d, d]`` orthogonal matrices, ``ρ(x) ρ(y) = ρ(table[x, y])``.
        character: float64 ``[n]``, ``χ(g) = tr ρ(g)``.
        kind: ``real`` (absolutely irreducible), ``complex`` (real form of a complex pair, e.g. cyclic
            ``freq_k``) or ``quaternionic``.
    """

    name: str
    dim: int
    matrices: np.ndarray
    character: np.ndarray
    kind: Kind

    def __post_init__(self) -> None:
        for field in ("matrices", "character"):
            array = np.array(getattr(self, field), dtype=np.float64)
            array.setflags(write=False)
            object.__setattr__(self, field, array)

    def __repr__(self) -> str:
        return f"Irrep(name={self.name!r}, dim={self.dim}, kind={self.kind!r})"

    @property
    def commutant_dim(self) -> int:
        """``<χ, χ> = (1/n) Σ_g χ(g)²``: 1, 2 or 4 for real, complex and quaternionic type."""
        return COMMUTANT_DIM[self.kind]

    @property
    def coefficient_rank(self) -> int:
        """Dimension of the span of the matrix coefficients ``g ↦ ρ(g)_ij``: ``d² / <χ, χ>``."""
        return self.dim**2 // self.commutant_dim

    def _coefficients(self) -> np.ndarray:
        return einops.rearrange(self.matrices, "g i j -> g (i j)")  # [n, d²]

    def projector(self) -> np.ndarray:
        """Isotypic projector ``P[g, g'] = d / (n <χ,χ>) · χ(g g'⁻¹)`` (rep_theory.md §7), ``[n, n]``.

        Uses ``χ(g g'⁻¹) = tr(ρ(g) ρ(g')ᵀ)``; symmetric, idempotent, trace and rank ``coefficient_rank``.
        """
        coefficients = self._coefficients()
        return self.dim / (len(coefficients) * self.commutant_dim) * coefficients @ coefficients.T

    def coefficient_basis(self) -> np.ndarray:
        """Orthonormal basis ``Q [n, coefficient_rank]`` of the coefficient span, ``Q Qᵀ = projector()``."""
        left, _, _ = np.linalg.svd(self._coefficients(), full_matrices=False)
        return left[:, : self.coefficient_rank]


@dataclass(frozen=True)
class CharacterTable:
    """Real characters per conjugacy class: ``values[i, k]`` = character of ``names[i]`` on ``classes[k]``."""

    names: tuple[str, ...]
    classes: tuple[np.ndarray, ...]
    values: np.ndarray

    @property
    def class_sizes(self) -> np.ndarray:
        return np.array([len(c) for c in self.classes])


def compute_irreps(group: FiniteGroup, seed: int = 0) -> tuple[Irrep, ...]:
    """All real irreps of ``group`` (no caching), ordered as :func:`grokscope.groups.naming.sort_key`."""
    builder = _Builder(group, np.random.default_rng(seed))
    reps = ClassData.of(group).reps
    found = []
    for values, kind in real_characters(group, builder.rng):
        character = values[group.class_index]  # [n]
        dim = round(character[0])
        found.append((character, dim, kind, builder.real_form(character, dim, COMMUTANT_DIM[kind])))
    found.sort(key=lambda f: (f[1], tuple(-np.round(f[0][reps], 6))))
    names = irrep_names(group, np.array([f[0] for f in found]), [f[1] for f in found])
    result = [Irrep(name, dim, m, c, kind) for name, (c, dim, kind, m) in zip(names, found, strict=True)]
    return tuple(sorted(result, key=lambda irrep: sort_key(irrep.name, irrep.dim)))


class _Builder:
    """Steps 2–4 of the module docstring; per irrep only the fallback of step 2 touches all ``n²`` pairs."""

    def __init__(self, group: FiniteGroup, rng: np.random.Generator) -> None:
        self.group, self.rng = group, rng

    def real_form(self, character: np.ndarray, dim: int, commutant_dim: int) -> np.ndarray:
        """Orthogonal matrices ``[n, d, d]`` of the real irrep with this per-element character."""
        basis = self.isotypic_basis(character, dim * dim // commutant_dim)
        if basis.shape[1] > dim:
            basis = self.one_copy(basis, dim)
        matrices = self.action(basis)
        self.verify(matrices, character)
        return matrices

    def isotypic_basis(self, character: np.ndarray, rank: int) -> np.ndarray:
        """Orthonormal basis ``[n, rank]`` of ``im P``, spanned by the columns ``P[:, x] ∝ χ(g x⁻¹)``.

        First from ``rank + 16`` random columns (SVD). Central elements make whole cosets of columns
        proportional, so if those fall short of the rank, fall back to ``P`` times a Gaussian ``[n, rank]``.
        """
        table, inverse, n = self.group.table, self.group.inverse, self.group.order
        xs = self.rng.choice(n, size=min(n, rank + 16), replace=False)
        left, values, _ = np.linalg.svd(character[table[:, inverse[xs]]], full_matrices=False)  # [n, c]
        if values[rank - 1] > 1e-6 * values[0]:
            return left[:, :rank]
        basis, _ = np.linalg.qr(character[table[:, inverse]] @ self.rng.standard_normal((n, rank)))
        return basis

    def one_copy(self, basis: np.ndarray, dim: int, attempts: int = 8) -> np.ndarray:
        """Orthonormal basis ``[n, d]`` of one irreducible copy in the isotypic component ``span(basis)``.

        Uses ``R_a`` for ``a = Σ_h c_h (δ_h + δ_{h⁻¹})`` over 8 random ``h``, i.e.
        ``(R_a f)(y) = Σ_h c_h (f(yh) + f(yh⁻¹))``.
        """
        table, inverse, n = self.group.table, self.group.inverse, self.group.order
        for _ in range(attempts):
            hs = self.rng.choice(n, size=min(n, 8), replace=False)
            shifted = basis[table[:, hs]] + basis[table[:, inverse[hs]]]  # [n, h, m]
            right = einops.einsum(shifted, self.rng.standard_normal(len(hs)), "y h m, h -> y m")
            values, vectors = np.linalg.eigh(basis.T @ right)
            scale = max(1.0, float(np.abs(values).max()))
            top, below = values[-dim:], values[-dim - 1]
            if top[-1] - top[0] < 1e-9 * scale and top[0] - below > 1e-6 * scale:
                return basis @ vectors[:, -dim:]
        raise RuntimeError(
            f"group {self.group.name!r}: could not split an isotypic component ({dim}-dim irrep)"
        )

    def action(self, basis: np.ndarray) -> np.ndarray:
        """``ρ(g) = Uᵀ L_g U`` for all ``g``, read off ``d`` pivot rows ``S``: ``U[g⁻¹S] = U[S] ρ(g)``."""
        rows = _pivot_rows(basis)
        shifted = basis[self.group.table[self.group.inverse[:, None], rows[None, :]]]  # [n, d, d]
        return np.linalg.solve(basis[rows], shifted)

    def verify(self, matrices: np.ndarray, character: np.ndarray) -> None:
        """Check orthogonality, the character and ``ρ(x)ρ(y) = ρ(x∘y)`` for all ``x`` and 8 random ``y``."""
        dim, n = matrices.shape[1], self.group.order
        ys = self.rng.choice(n, size=min(n, 8), replace=False)
        errors = (
            np.abs(matrices @ matrices.transpose(0, 2, 1) - np.eye(dim)).max(),
            np.abs(np.trace(matrices, axis1=1, axis2=2) - character).max(),
            max(np.abs(matrices @ matrices[y] - matrices[self.group.table[:, y]]).max() for y in ys),
        )
        if max(errors) > _ATOL * dim:
            raise RuntimeError(f"group {self.group.name!r}: {dim}-dim irrep failed verification {errors}")


def _pivot_rows(basis: np.ndarray) -> np.ndarray:
    """Indices of ``d`` rows of ``basis [n, d]`` forming a well-conditioned block (pivoted Gram–Schmidt)."""
    residual, rows = basis.copy(), []
    for _ in range(basis.shape[1]):
        row = int(np.argmax(np.einsum("ij,ij->i", residual, residual)))
        rows.append(row)
        direction = residual[row] / np.linalg.norm(residual[row])
        residual -= np.outer(residual @ direction, direction)
    return np.array(rows)


def cache_dir() -> Path:
    """``$GROKSCOPE_CACHE/irreps`` if the variable is set, else ``~/.cache/grokscope/irreps``."""
    root = os.environ.get("GROKSCOPE_CACHE")
    return Path(root).expanduser() / "irreps" if root else Path.home() / ".cache" / "grokscope" / "irreps"


def cache_path(group: FiniteGroup) -> Path:
    """Cache file of ``group``: keyed by its name and a hash of its table."""
    return cache_dir() / f"{group.name}-{group.digest}-v{_CACHE_FORMAT}.npz"


def irreps(group: FiniteGroup, cache: bool = True) -> tuple[Irrep, ...]:
    """All real irreps of ``group``, trivial first (see :func:`compute_irreps`).

    With ``cache`` the result is memoised in-process and stored in / loaded from :func:`cache_path`.
    """
    return _cached(group, cache_path(group)) if cache else compute_irreps(group)


def clear_memory_cache() -> None:
    """Forget the in-process results of :func:`irreps` (the disk cache is kept)."""
    _cached.cache_clear()


@functools.lru_cache(maxsize=32)
def _cached(group: FiniteGroup, path: Path) -> tuple[Irrep, ...]:
    if path.exists():
        try:
            return _load(path)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            warnings.warn(f"ignoring unreadable irreps cache {path}: {error}", stacklevel=3)
    result = compute_irreps(group)
    try:
        _save(path, result)
    except OSError as error:
        warnings.warn(f"could not write irreps cache {path}: {error}", stacklevel=3)
    return result


def _save(path: Path, result: tuple[Irrep, ...]) -> None:
    """Write the ``.npz`` to a temporary file in the same directory, then ``os.replace`` it (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"matrices_{i}": irrep.matrices for i, irrep in enumerate(result)}
    arrays |= {f"character_{i}": irrep.character for i, irrep in enumerate(result)}
    arrays |= {"names": np.array([i.name for i in result]), "kinds": np.array([i.kind for i in result])}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path) -> tuple[Irrep, ...]:
    with np.load(path, allow_pickle=False) as data:
        return tuple(
            Irrep(
                str(name),
                data[f"matrices_{i}"].shape[1],
                data[f"matrices_{i}"],
                data[f"character_{i}"],
                str(kind),
            )
            for i, (name, kind) in enumerate(zip(data["names"], data["kinds"], strict=True))
        )


def character_table(group: FiniteGroup, cache: bool = True) -> CharacterTable:
    """Real character table: one row per irrep (in :func:`irreps` order), one column per class."""
    result = irreps(group, cache=cache)
    classes = tuple(group.conjugacy_classes())
    reps = [c[0] for c in classes]
    return CharacterTable(
        tuple(i.name for i in result), classes, np.array([i.character[reps] for i in result])
    )
