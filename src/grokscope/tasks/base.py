"""The Task object: the whole input table, named row masks, loss terms, and the structure metrics need."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch


@dataclass(frozen=True)
class LossTerm:
    """One term ``weight * CE(rows in mask)`` of the training objective."""

    name: str
    mask: str
    weight: float


@dataclass
class Task:
    """Everything a run learns from, built once as tensors.

    ``tokens[N, n_ctx]`` and ``labels[N]`` enumerate the whole table; ``masks`` name boolean row subsets
    (``train``, ``test``, ...); ``loss_terms`` say which masks are trained and with what weight;
    ``eval_masks`` are evaluated and logged as ``{mask}/loss`` and ``{mask}/acc``.

    Structure for metrics: ``operands[N, n_operands]`` are the element indices of each row's operands,
    ``operand_tokens[n_operands, n_elements]`` the token id that stands for element ``x`` at operand
    position ``i``, ``operand_positions`` the sequence positions of the operands, ``modulus`` the ``p``
    of residue operands (``None`` when the operands are not residues) and ``group`` the finite group of
    the operands, where there is one. ``run_name`` is the task's suggestion for the run's (WandB) name when
    the config's ``name`` is null.
    """

    name: str
    tokens: torch.Tensor
    labels: torch.Tensor
    masks: dict[str, torch.Tensor]
    loss_terms: tuple[LossTerm, ...]
    d_vocab: int
    n_classes: int
    operands: torch.Tensor
    operand_tokens: torch.Tensor
    operand_positions: tuple[int, ...]
    eval_masks: tuple[str, ...] = ("train", "test")
    modulus: int | None = None
    group: Any = None
    run_name: str | None = None
    token_names: tuple[str, ...] = field(default=(), repr=False)

    @property
    def n_ctx(self) -> int:
        return self.tokens.shape[1]

    @property
    def n_elements(self) -> int:
        return self.operand_tokens.shape[1]

    def to(self, device: torch.device | str) -> Task:
        """A copy whose tensors live on ``device``."""
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if isinstance(getattr(self, f.name), torch.Tensor)}
        masks = {k: m.to(device) for k, m in self.masks.items()}
        return replace(self, masks=masks, **moved)


def split_masks(n_rows: int, frac_train: float, seed: int) -> dict[str, torch.Tensor]:
    """Random ``train``/``test`` masks: the first ``floor(frac_train * N)`` rows of a seeded permutation.

    ``torch.randperm`` on a CPU generator seeded with ``seed`` (rep_theory.md §1): the split depends only
    on the seed and the row count.
    """
    perm = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed))
    train = torch.zeros(n_rows, dtype=torch.bool)
    train[perm[: int(frac_train * n_rows)]] = True
    return {"train": train, "test": ~train}
