"""Binary operations mod p: all ordered pairs (a, b) with label f(a, b) mod p (Power et al. 2022)."""

from __future__ import annotations

from dataclasses import dataclass

from grokscope.config import NAME_MEANING, Checked, described, require
from grokscope.tasks.base import TableShape, Task, all_pairs, pair_task, require_split
from grokscope.tasks.operations import OPS, resolve_op


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


@dataclass
class ModularConfig(Checked):
    """``task=modular``: label ``op(a, b) mod p`` for every ordered pair (``b != 0`` for ``div``); ``op`` is a name
    of :data:`~grokscope.tasks.operations.OPS` or an alias of one."""

    name: str = described(NAME_MEANING)
    p: int = described("the modulus: residues 0..p-1 (prime for op=div)", allowed=">= 3")
    op: str = described("the label op(a, b) mod p (older spellings sum, prod, ssq: add, mul, x2+y2)", choices=OPS)
    frac_train: float = described("fraction of the pairs in the training split (drawn from seeds.data)",
                                  allowed="(0, 1)")
    equals_token: bool = described('append the "=" token: sequences [a, b, =]')
    separate_operand_vocab: bool = described("b uses its own token ids p..2p-1")

    def check(self, prefix: str) -> None:
        require(self.p >= 3, f"{prefix}.p", self.p, "must be an integer >= 3 (Z_2 has no non-constant frequency)")
        self.op = resolve_op(f"{prefix}.op", self.op, tuple(OPS))
        if self.op == "div":
            require(is_prime(self.p), f"{prefix}.p", self.p, "must be prime for op=div")
        require(0 < self.frac_train < 1, f"{prefix}.frac_train", self.frac_train, "must be in (0, 1)")

    def check_against(self, config, prefix: str) -> None:
        require_split(f"{prefix}.frac_train", self.frac_train, self.table_shape(config).n_rows)

    def table_shape(self, config) -> TableShape:
        """The table :func:`modular_task` builds, without building it."""
        n_rows = self.p * (self.p - 1) if self.op == "div" else self.p**2
        d_vocab = self.p * (2 if self.separate_operand_vocab else 1) + self.equals_token
        return TableShape(n_rows, 2 + self.equals_token, d_vocab, self.p, self.p, int(self.frac_train * n_rows))

    def build(self, data_seed: int) -> Task:
        return modular_task(self, data_seed)




def modular_task(cfg: ModularConfig, data_seed: int) -> Task:
    """Build the table of ``op`` mod ``p``.

    Token layout: residues ``0..p-1`` stand for ``a``; ``b`` uses the same ids, or ``p..2p-1`` with
    ``separate_operand_vocab`` (the pizza code's ``diff_vocab``); ``=`` is the last token id.
    Rows are row-major over ``(a, b)``: row ``a * p + b`` (rows with ``b = 0`` dropped for ``div``).
    """
    p = cfg.p
    operands = all_pairs(p)  # [N, 2]
    if cfg.op == "div":
        operands = operands[operands[:, 1] != 0]
    group = None
    if cfg.op == "add":
        from grokscope.groups import cyclic

        group = cyclic(p)
    return pair_task(f"modular_{cfg.op}_{p}", operands, OPS[cfg.op](operands[:, 0], operands[:, 1], p), p,
                     [str(x) for x in range(p)], frac_train=cfg.frac_train, data_seed=data_seed,
                     equals_token=cfg.equals_token, separate_operand_vocab=cfg.separate_operand_vocab,
                     modulus=p, group=group)
