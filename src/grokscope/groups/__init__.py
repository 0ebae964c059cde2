"""Finite groups, their real irreducible representations, and the Fourier basis over Z_p.

See rep_theory.md §2–3, §7 (groups, irreps, projectors) and nanda_progress_measures.md §4 (Fourier basis).
"""

from grokscope.groups.config import SCHEMAS
from grokscope.groups.families import (
    FAMILIES,
    alternating,
    build_group,
    cyclic,
    dihedral,
    product,
    symmetric,
)
from grokscope.groups.finite_group import FiniteGroup
from grokscope.groups.fourier import fourier_basis, fourier_basis_names, frequency_of_row
from grokscope.groups.irreps import (
    CharacterTable,
    Irrep,
    cache_path,
    character_table,
    clear_memory_cache,
    compute_irreps,
    irreps,
)

__all__ = [
    "FAMILIES",
    "SCHEMAS",
    "CharacterTable",
    "FiniteGroup",
    "Irrep",
    "alternating",
    "build_group",
    "cache_path",
    "character_table",
    "clear_memory_cache",
    "compute_irreps",
    "cyclic",
    "dihedral",
    "fourier_basis",
    "fourier_basis_names",
    "frequency_of_row",
    "irreps",
    "product",
    "symmetric",
]
