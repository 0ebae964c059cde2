"""Finite groups, their real irreducible representations, the Fourier basis over Z_p and the spectral maths on
them (power, signal, filters).

See rep_theory.md §2–3, §7 (groups, irreps, projectors), nanda_progress_measures.md §4 (Fourier basis) and
circle_survival.md §5–6 (signal, filters).
"""

from grokscope.groups.basis import GroupBasis, group_basis
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
from grokscope.groups.fourier import fourier_basis, fourier_basis_names, frequency_of_row, max_frequency
from grokscope.groups.irreps import (
    CharacterTable,
    Irrep,
    cache_path,
    character_table,
    clear_memory_cache,
    compute_irreps,
    irreps,
)
from grokscope.groups.spectral import (
    apply_filter,
    fourier_filter,
    fourier_signal,
    frequency_power,
    irrep_filter,
    spectral_filter,
)

__all__ = [
    "FAMILIES",
    "SCHEMAS",
    "CharacterTable",
    "FAMILIES",
    "FiniteGroup",
    "GroupBasis",
    "Irrep",
    "alternating",
    "apply_filter",
    "build_group",
    "cache_path",
    "character_table",
    "clear_memory_cache",
    "compute_irreps",
    "cyclic",
    "dihedral",
    "fourier_basis",
    "fourier_basis_names",
    "fourier_filter",
    "fourier_signal",
    "frequency_of_row",
    "frequency_power",
    "group_basis",
    "irrep_filter",
    "irreps",
    "max_frequency",
    "product",
    "spectral_filter",
    "symmetric",
]
