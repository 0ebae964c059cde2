"""Group composition: every ordered pair (a, b) of a finite group, labelled by a ∘ b (Chughtai et al. 2023,
rep_theory.md §1) or by the other group operations of Power et al. 2022 (a ∘ b⁻¹, a ∘ b ∘ a⁻¹)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from grokscope.config import NAME_MEANING, Checked, described, require, require_choice
from grokscope.groups import FiniteGroup, cyclic
from grokscope.tasks.base import TableShape, Task, all_pairs, pair_task, require_split

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

    name: str = described(NAME_MEANING)
    form: str = described("the label: a b (ab), a b^-1 (ab_inv) or a b a^-1 (aba_inv), over the group config group",
                          choices=FORMS)
    frac_train: float = described("fraction of the |G|^2 pairs in the training split (drawn from seeds.data)",
                                  allowed="(0, 1)")
    equals_token: bool = described('append the "=" token (id |G|): sequences [a, b, =]')

    def check(self, prefix: str) -> None:
        require_choice(f"{prefix}.form", self.form, tuple(FORMS))
        require(0 < self.frac_train < 1, f"{prefix}.frac_train", self.frac_train, "must be in (0, 1)")

    def check_against(self, config, prefix: str) -> None:
        require_split(f"{prefix}.frac_train", self.frac_train, self.table_shape(config).n_rows)

    def table_shape(self, config) -> TableShape:
        """The table :func:`composition_task` builds over ``config.group``, without building it."""
        n = config.group.order
        return TableShape(n * n, 2 + self.equals_token, n + self.equals_token, n,
                          n if config.group.name == "cyclic" else None, int(self.frac_train * n * n))

    def build(self, data_seed: int, group) -> Task:
        """``group`` is the validated group config (``config.group``)."""
        return composition_task(self, group.build(), data_seed)




def composition_task(cfg: CompositionConfig, group: FiniteGroup, data_seed: int) -> Task:
    """Build the table of ``form(a, b)`` over ``group``.

    Rows are row-major over ``(a, b)``: row ``a·|G| + b``. Token ``x`` stands for element ``x`` in both
    operand slots; ``=`` is token ``|G|``. The split is :func:`~grokscope.tasks.base.split_masks`, so with
    ``group=cyclic`` and ``form=ab`` the task equals ``task=modular op=add`` with ``p = n``.
    """
    n = group.order
    table, inverse = torch.tensor(group.table), torch.tensor(group.inverse)
    operands = all_pairs(n)  # [N, 2]
    labels = FORMS[cfg.form](table, inverse, operands[:, 0], operands[:, 1])
    return pair_task(f"composition_{group.name}_{cfg.form}", operands, labels, n, list(group.labels),
                     frac_train=cfg.frac_train, data_seed=data_seed, equals_token=cfg.equals_token,
                     modulus=n if group == cyclic(n) else None, group=group)
