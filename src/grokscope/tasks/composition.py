"""Group composition: every ordered pair (a, b) of a finite group, labelled by a ∘ b (Chughtai et al. 2023,
rep_theory.md §1) or by the other group operations of Power et al. 2022 (a ∘ b⁻¹, a ∘ b ∘ a⁻¹)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from einops import rearrange

from grokscope.config import Checked, register, require, require_choice
from grokscope.groups import FiniteGroup, cyclic
from grokscope.tasks.base import LossTerm, Task, split_masks

#: form -> label from the Cayley table ``t``, the inverses ``inv`` and the operands ``a``, ``b``.
FORMS = {
    "ab": lambda t, inv, a, b: t[a, b],
    "ab_inv": lambda t, inv, a, b: t[a, inv[b]],
    "aba_inv": lambda t, inv, a, b: t[t[a, b], inv[a]],
}


@dataclass
class CompositionConfig(Checked):
    """``task=composition``: label ``form(a, b)`` for all ``|G|²`` ordered pairs of the top-level ``group``."""

    requires: ClassVar[tuple[str, ...]] = ("group",)

    name: str
    form: str
    frac_train: float
    equals_token: bool

    def check(self, prefix: str) -> None:
        require_choice(f"{prefix}.form", self.form, tuple(FORMS))
        require(0 < self.frac_train < 1, f"{prefix}.frac_train", self.frac_train, "must be in (0, 1)")

    def build(self, data_seed: int, group) -> Task:
        """``group`` is the validated group config (``config.group``)."""
        return composition_task(self, group.build(), data_seed)


register("task", "composition")(CompositionConfig)


def composition_task(cfg: CompositionConfig, group: FiniteGroup, data_seed: int) -> Task:
    """Build the table of ``form(a, b)`` over ``group``.

    Rows are row-major over ``(a, b)``: row ``a·|G| + b``. Token ``x`` stands for element ``x`` in both
    operand slots; ``=`` is token ``|G|``. The split is :func:`~grokscope.tasks.base.split_masks`, so with
    ``group=cyclic`` and ``form=ab`` the task equals ``task=modular op=add`` with ``p = n``.
    """
    n = group.order
    table, inverse = torch.tensor(group.table), torch.tensor(group.inverse)
    a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    operands = rearrange(torch.stack([a, b]), "two a b -> (a b) two")  # [N, 2]
    labels = FORMS[cfg.form](table, inverse, operands[:, 0], operands[:, 1])
    tokens, names, d_vocab = operands, list(group.labels), n
    if cfg.equals_token:
        tokens = torch.cat([tokens, torch.full((len(tokens), 1), n)], dim=1)
        names.append("=")
        d_vocab += 1
    return Task(
        name=f"composition_{group.name}_{cfg.form}",
        tokens=tokens,
        labels=labels,
        masks=split_masks(len(labels), cfg.frac_train, data_seed),
        loss_terms=(LossTerm("train", "train", 1.0),),
        d_vocab=d_vocab,
        n_classes=n,
        operands=operands,
        operand_tokens=torch.stack([torch.arange(n), torch.arange(n)]),  # [2, n]
        operand_positions=(0, 1),
        modulus=n if group == cyclic(n) else None,
        group=group,
        token_names=tuple(names),
    )
