"""Out-of-context learning: an operation table, its alias copy and the linkages between them (oocl.md).

Source: ancri/mechinterp, ``asic_toymodel/src/oocl.py``. Table 1 is ``z = op(x, y) mod p`` over "original"
tokens, table 2 the same table over "alias" tokens, and linkage facts tie each original to its alias. Each
table has its own, independent held-out set. The question (oocl.md §1): does training on table 2 and the
linkages, ``(k1, k2, k3) = (1, 1, 1)``, make table 1 generalise where table 1 alone, ``(1, 0, 0)``, does not?
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from einops import rearrange, repeat

from grokscope.config import NAME_MEANING, Checked, described, require
from grokscope.tasks.base import LossTerm, TableShape, Task
from grokscope.tasks.operations import OPS, resolve_op

#: The operations ``z(x, y)`` mod p of the original (oocl.md §2: its ``ssq``, ``sum``, ``prod``, accepted as aliases).
OOCL_OPS = ("x2+y2", "add", "mul")

#: Names of the four special tokens, at ids ``2p, 2p + 1, 2p + 2, 2p + 3`` (oocl.md §2).
SPECIALS = ("=", "true", "false", "define")

#: Masks logged as ``{mask}/loss`` and ``{mask}/acc``: the rows of each loss term, both held-out sets, and
#: table 1's held-out cells split by whether their alias cell is trained in table 2 (oocl.md §6).
EVAL_MASKS = ("train1", "train2", "links", "holdout1", "holdout2", "holdout1_alias_seen", "holdout1_alias_unseen")


@dataclass
class OoclConfig(Checked):
    """``task=oocl``: objective ``k1 L_table1 + k2 L_table2 + k3 L_links`` (oocl.md §5).

    ``holdout1`` and ``holdout2`` are the held-out fractions of tables 1 and 2 (the original's
    ``frac_held_out_phase1/2``); both masks come from ``seeds.data`` and are independent.
    """

    name: str = described(NAME_MEANING)
    p: int = described("originals 0..p-1, aliases p..2p-1; vocabulary 2p + 4", allowed=">= 3")
    op: str = described("the table z = op(x, y) mod p (older spellings sum, prod, ssq)", choices=OOCL_OPS)
    holdout1: float = described("held-out fraction of table 1 (mask drawn from seeds.data)", allowed="[0, 1)")
    holdout2: float = described("held-out fraction of table 2 (the alias table): an independent mask",
                                allowed="[0, 1)")
    k1: float = described("weight of the table-1 loss", allowed=">= 0 (k1 + k2 + k3 > 0)")
    k2: float = described("weight of the alias-table (table-2) loss", allowed=">= 0")
    k3: float = described("weight of the linkage loss", allowed=">= 0")

    def check(self, prefix: str) -> None:
        require(self.p >= 3, f"{prefix}.p", self.p, "must be an integer >= 3")
        self.op = resolve_op(f"{prefix}.op", self.op, OOCL_OPS)
        for key in ("holdout1", "holdout2"):
            h = getattr(self, key)
            require(0 <= h < 1, f"{prefix}.{key}", h, "must be in [0, 1)")
            require(n_train_cells(self.p, h) >= 1, f"{prefix}.{key}", h, f"leaves no training cell for p={self.p}")
        for key in ("k1", "k2", "k3"):
            require(getattr(self, key) >= 0, f"{prefix}.{key}", getattr(self, key), "must be >= 0")
        require(self.k1 + self.k2 + self.k3 > 0, f"{prefix}.k1", self.k1,
                f"{prefix}.k1, {prefix}.k2 and {prefix}.k3 must not all be 0")

    def table_shape(self, config) -> TableShape:
        """The table :func:`oocl_task` builds (tables 1 and 2, the linkages both ways), without building it."""
        trained = ((self.k1, n_train_cells(self.p, self.holdout1)), (self.k2, n_train_cells(self.p, self.holdout2)),
                   (self.k3, 2 * self.p))
        return TableShape(2 * self.p**2 + 2 * self.p, 4, 2 * self.p + 4, 2 * self.p, self.p,
                          sum(n for weight, n in trained if weight > 0), sum(weight > 0 for weight, _ in trained),
                          len(EVAL_MASKS))

    def run_name(self) -> str:
        """``oocl_{op}_{p}_{h1}_{h2}_{k1}_{k2}_{k3}``, holdouts rounded to 2 and weights to 1 decimal (oocl.md §6)."""
        return (f"oocl_{self.op}_{self.p}_{round(self.holdout1, 2)}_{round(self.holdout2, 2)}"
                f"_{round(self.k1, 1)}_{round(self.k2, 1)}_{round(self.k3, 1)}")

    def build(self, data_seed: int) -> Task:
        return oocl_task(self, data_seed)




def n_train_cells(p: int, holdout: float) -> int:
    """Training cells of one table: ``#{r in 0..p^2-1 : r > floor(h p^2)} = p^2 - 1 - floor(h p^2)``."""
    return p * p - 1 - math.floor(holdout * p * p)


def held_out_cells(p: int, holdout: float, generator: torch.Generator) -> torch.Tensor:
    """Held-out mask ``[p^2]`` of one table, row-major over ``(x, y)`` (oocl.md §4).

    ``r = randperm(p^2)``; cell ``(x, y)`` is trained iff ``r[x p + y] > h p^2``, held out otherwise. The
    mask is not symmetric: ``(x, y)`` and ``(y, x)`` are independent cells.
    """
    r = torch.randperm(p * p, generator=generator)
    return r <= math.floor(holdout * p * p)


def oocl_task(cfg: OoclConfig, data_seed: int) -> Task:
    """Build tables 1 and 2 and the linkages (oocl.md §2-4).

    Vocabulary ``d_vocab = 2p + 4``: ``0..p-1`` originals, ``p..2p-1`` aliases (``p + i`` is the alias of
    ``i``), ``2p`` ``=``, ``2p + 1`` ``true`` (constant prefix), ``2p + 2`` ``false`` (unused), ``2p + 3``
    ``define``. The original's sequences have 5 tokens and are trained on the logits at position 3 (``=``)
    against the token at position 4; here ``tokens`` hold positions 0..3 and ``labels`` position 4, so the
    model's logits at its last position are the original's logits at ``=`` (under a causal mask, position 4
    never influences position 3):

    - rows ``x p + y`` (table 1): ``[true, x, y, =]`` -> ``z``;
    - rows ``p^2 + x p + y`` (table 2): ``[true, x + p, y + p, =]`` -> ``z + p``;
    - rows ``2 p^2 + i`` and ``2 p^2 + p + i`` (linkages, both directions, never held out):
      ``[define, define, i, =]`` -> ``i + p`` and ``[define, define, i + p, =]`` -> ``i``.

    One CPU generator seeded with ``data_seed`` draws the table-1 mask and then the table-2 mask, so the
    two are independent, and each depends only on the seed, ``p`` and its own holdout fraction.
    ``operands`` of a linkage row are ``(-1, i)``: position 1 holds ``define``, no element.
    """
    p = cfg.p
    equal, true, _false, define = range(2 * p, 2 * p + 4)
    x, y = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    operands = rearrange(torch.stack([x, y]), "two x y -> (x y) two")  # [p^2, 2]
    z = OPS[cfg.op](operands[:, 0], operands[:, 1], p)  # [p^2]

    def table(offset: int) -> torch.Tensor:  # [p^2, 4]
        return torch.cat([torch.full((p * p, 1), true), operands + offset, torch.full((p * p, 1), equal)], dim=1)

    i = torch.arange(p)
    link_sources = torch.cat([i, i + p])  # [2p]: original -> alias, then alias -> original
    links = torch.stack([torch.full((2 * p,), define), torch.full((2 * p,), define), link_sources,
                         torch.full((2 * p,), equal)], dim=1)  # [2p, 4]

    generator = torch.Generator().manual_seed(data_seed)
    held1 = held_out_cells(p, cfg.holdout1, generator)
    held2 = held_out_cells(p, cfg.holdout2, generator)
    blocks = {"table1": p * p, "table2": p * p, "links": 2 * p}

    def rows(**parts: torch.Tensor) -> torch.Tensor:
        """A mask over all rows that is ``parts[block]`` on the named blocks and False elsewhere."""
        return torch.cat([parts.get(b, torch.zeros(n, dtype=torch.bool)) for b, n in blocks.items()])

    masks = {
        "train1": rows(table1=~held1),
        "holdout1": rows(table1=held1),
        "train2": rows(table2=~held2),
        "holdout2": rows(table2=held2),
        "links": rows(links=torch.ones(2 * p, dtype=torch.bool)),
        "holdout1_alias_seen": rows(table1=held1 & ~held2),
        "holdout1_alias_unseen": rows(table1=held1 & held2),
    }
    no_element = torch.full((2 * p, 1), -1)
    names = [str(v) for v in range(p)] + [f"{v}'" for v in range(p)] + list(SPECIALS)
    return Task(
        name=f"oocl_{cfg.op}_{p}",
        tokens=torch.cat([table(0), table(p), links]),
        labels=torch.cat([z, z + p, torch.cat([i + p, i])]),
        masks=masks,
        loss_terms=(LossTerm("table1", "train1", cfg.k1), LossTerm("table2", "train2", cfg.k2),
                    LossTerm("links", "links", cfg.k3)),
        d_vocab=2 * p + 4,
        n_classes=2 * p,
        operands=torch.cat([operands, operands, torch.cat([no_element, repeat(i, "p -> (two p) 1", two=2)], dim=1)]),
        operand_tokens=torch.stack([torch.arange(p), torch.arange(p)]),
        operand_positions=(1, 2),
        eval_masks=EVAL_MASKS,
        modulus=p,
        run_name=cfg.run_name(),
        token_names=tuple(names),
    )
