"""``group=cyclic|dihedral|symmetric|alternating|product``: the finite group a task composes over.

The group is a top-level config group (``conf/group/``), so one command line picks the task and the group
independently: ``task=composition group=symmetric group.n=5``. Orders are checked before any table is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce

from grokscope.config import NAME_MEANING, Checked, described, require, require_choice
from grokscope.groups.families import FAMILIES, MAX_ORDER, product
from grokscope.groups.finite_group import FiniteGroup

#: family -> (smallest ``n`` accepted, order as a function of ``n``).
FAMILY_SPECS = {
    "cyclic": (1, lambda n: n),
    "dihedral": (3, lambda n: 2 * n),
    "symmetric": (1, math.factorial),
    "alternating": (3, lambda n: math.factorial(n) // 2),
}


def _check_order(order: int | None, key: str, value) -> None:
    """``order`` ``None`` stands for "larger than any group we tabulate"."""
    size = f"|G| = {order}" if order is not None else f"|G| > {MAX_ORDER}"
    require(order is not None and order <= MAX_ORDER, key, value,
            f"the group is too large to tabulate ({size}; at most {MAX_ORDER} elements, i.e. |G|^2 table rows)")


@dataclass
class GroupFamilyConfig(Checked):
    """``group=cyclic|dihedral|symmetric|alternating``: ``C_n`` (order n), ``D_n`` (order 2n), ``S_n``
    (n!) or ``A_n`` (n!/2), indexed as documented in :mod:`grokscope.groups.families`."""

    name: str = described("the group family", choices=FAMILY_SPECS)
    n: int = described("the family's parameter: C_n (order n, n >= 1), D_n (2n, n >= 3), S_n (n!, n >= 1), A_n (n!/2, "
                       f"n >= 3); at most {MAX_ORDER} elements")

    def check(self, prefix: str) -> None:
        require_choice(f"{prefix}.name", self.name, tuple(FAMILY_SPECS))
        low, _ = FAMILY_SPECS[self.name]
        require(self.n >= low, f"{prefix}.n", self.n, f"must be an integer >= {low} for the {self.name} family")
        # bound n first: the factorial of a huge n would take forever
        _check_order(self.order if self.n <= MAX_ORDER else None, f"{prefix}.n", self.n)

    @property
    def order(self) -> int:
        return FAMILY_SPECS[self.name][1](self.n)

    def build(self) -> FiniteGroup:
        return FAMILIES[self.name](self.n)


@dataclass
class ProductConfig(Checked):
    """``group=product``: the direct product of ``factors`` (each ``{name: family, n: ...}``), folded left
    to right; index ``i·|h| + j`` is ``(g_i, h_j)``."""

    name: str = described(NAME_MEANING)
    factors: list[GroupFamilyConfig] = described("the factors, at least two, each {name: family, n: ...}; folded left "
                                                 "to right")

    def check(self, prefix: str) -> None:
        require(len(self.factors) >= 2, f"{prefix}.factors", len(self.factors), "must list at least two groups")
        for i, factor in enumerate(self.factors):
            factor.check(f"{prefix}.factors.{i}")
        _check_order(self.order, f"{prefix}.factors", [f"{f.name}({f.n})" for f in self.factors])

    @property
    def order(self) -> int:
        return math.prod(f.order for f in self.factors)

    def build(self) -> FiniteGroup:
        return reduce(product, (f.build() for f in self.factors))


#: ``group=<name>`` -> its schema
SCHEMAS = {**dict.fromkeys(FAMILY_SPECS, GroupFamilyConfig), "product": ProductConfig}
