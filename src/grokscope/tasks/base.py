"""The Task object: the whole input table, named row masks, loss terms, and the structure metrics need."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from einops import rearrange

from grokscope.config import require


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


@dataclass(frozen=True)
class TableShape:
    """The size of a task's table: rows, tokens per row, vocabulary, answer classes, the ``p`` of residue
    operands (``None`` when the operands are not residues), the rows of the trained loss terms (a full-batch
    step's batch; ``None``: every row), the trained loss terms and the evaluated masks."""

    n_rows: int
    n_ctx: int
    d_vocab: int
    n_classes: int
    modulus: int | None
    n_train: int | None = None
    n_terms: int = 1
    n_masks: int = 2


def require_split(key: str, frac_train: float, n_rows: int) -> None:
    """The train split (the first ``floor(frac_train N)`` rows) and the test split must both be non-empty."""
    n_train = int(frac_train * n_rows)
    require(1 <= n_train < n_rows, key, frac_train, f"leaves an empty {'train' if n_train < 1 else 'test'} split: "
            f"the table has {n_rows} rows and floor(frac_train * {n_rows}) = {n_train} of them train")


def split_masks(n_rows: int, frac_train: float, seed: int) -> dict[str, torch.Tensor]:
    """Random ``train``/``test`` masks: the first ``floor(frac_train * N)`` rows of a seeded permutation.

    ``torch.randperm`` on a CPU generator seeded with ``seed`` (rep_theory.md §1): the split depends only
    on the seed and the row count.
    """
    perm = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed))
    train = torch.zeros(n_rows, dtype=torch.bool)
    train[perm[: int(frac_train * n_rows)]] = True
    return {"train": train, "test": ~train}


def all_pairs(n: int) -> torch.Tensor:
    """Operands ``[n², 2]`` of every ordered pair ``(a, b)``, row-major: row ``a·n + b``."""
    a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    return rearrange(torch.stack([a, b]), "two a b -> (a b) two")


def pair_task(name: str, operands: torch.Tensor, labels: torch.Tensor, n: int, names: list[str], *,
              frac_train: float, data_seed: int, equals_token: bool, separate_operand_vocab: bool = False,
              modulus: int | None = None, group: Any = None) -> Task:
    """A task over pairs of ``n`` elements with ``n`` answer classes, trained on a random ``train`` split.

    Token layout: element ``x`` is token ``x`` for ``a``; for ``b`` the same, or ``n + x`` with
    ``separate_operand_vocab``; ``=`` (with ``equals_token``) is the last token id.
    """
    b_offset = n if separate_operand_vocab else 0
    tokens = operands + torch.tensor([0, b_offset])
    names = names + ([f"{x}'" for x in names] if b_offset else [])
    d_vocab = n + b_offset
    if equals_token:
        tokens = torch.cat([tokens, torch.full((len(tokens), 1), d_vocab)], dim=1)
        names.append("=")
        d_vocab += 1
    return Task(
        name=name,
        tokens=tokens,
        labels=labels,
        masks=split_masks(len(labels), frac_train, data_seed),
        loss_terms=(LossTerm("train", "train", 1.0),),
        d_vocab=d_vocab,
        n_classes=n,
        operands=operands,
        operand_tokens=torch.stack([torch.arange(n), torch.arange(n) + b_offset]),  # [2, n]
        operand_positions=(0, 1),
        modulus=modulus,
        group=group,
        token_names=tuple(names),
    )
