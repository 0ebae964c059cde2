"""Embedding -> MLP -> unembedding on the two operands (Liu et al. 2022; Chughtai et al. 2023; Ding et al. 2024)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from grokscope.config import Checked, register, require, require_choice
from grokscope.models.base import ACTIVATIONS, GrokModel, resolve_d_vocab_out
from grokscope.models.hooks import HookPoint

COMBINES = ("concat", "sum", "sum_separate")


@dataclass
class MLPConfig(Checked):
    """``model=mlp``.

    ``combine``: ``concat`` ``[W_E[a]; W_E[b]]``, ``sum`` ``W_E[a] + W_E[b]`` (one shared table) or
    ``sum_separate`` ``W_E[a] + W_E[d_vocab + b]`` (one table per operand, stacked in ``W_E``).
    """

    name: str
    combine: str
    d_embed: int
    hidden: list[int]
    act: str
    bias: bool
    embed_init_std: float
    d_vocab_out: str

    def check(self, prefix: str) -> None:
        require_choice(f"{prefix}.combine", self.combine, COMBINES)
        require(self.d_embed >= 1, f"{prefix}.d_embed", self.d_embed, "must be an integer >= 1")
        require(all(h >= 1 for h in self.hidden), f"{prefix}.hidden", self.hidden, "widths must be >= 1")
        require_choice(f"{prefix}.act", self.act, tuple(ACTIVATIONS))
        require(self.embed_init_std > 0, f"{prefix}.embed_init_std", self.embed_init_std, "must be > 0")
        require_choice(f"{prefix}.d_vocab_out", self.d_vocab_out, ("answers", "vocab"))

    def build(self, task) -> MLP:
        return MLP(self, task.d_vocab, resolve_d_vocab_out(self.d_vocab_out, task.d_vocab, task.n_classes),
                   task.operand_positions)


register("model", "mlp")(MLPConfig)


class MLPLayer(nn.Module):
    """``act(x W_in + b_in)`` with a hook on the output."""

    def __init__(self, d_in: int, d_out: int, bias: bool, act: str):
        super().__init__()
        linear = nn.Linear(d_in, d_out, bias=bias)  # PyTorch's default (Kaiming-uniform) init
        self.W_in = nn.Parameter(linear.weight.detach().T.contiguous())  # [d_in, d_out]
        self.b_in = nn.Parameter(linear.bias.detach()) if bias else None
        self.act = ACTIVATIONS[act]
        self.hook_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = x @ self.W_in
        if self.b_in is not None:
            pre = pre + self.b_in
        return self.hook_post(self.act(pre))


class MLP(GrokModel):
    """``logits = h W_U + b_U`` with ``h`` the last hidden layer applied to the combined operand embeddings."""

    def __init__(self, cfg: MLPConfig, d_vocab: int, d_vocab_out: int, operand_positions: tuple[int, ...]):
        super().__init__()
        self.cfg, self.d_vocab = cfg, d_vocab
        self.register_buffer("positions", torch.tensor(operand_positions), persistent=False)
        n_op = len(operand_positions)
        n_tables = n_op if cfg.combine == "sum_separate" else 1
        offsets = torch.arange(n_op) * d_vocab if n_tables > 1 else torch.zeros(n_op, dtype=torch.long)
        self.register_buffer("table_offsets", offsets, persistent=False)
        self.W_E = nn.Parameter(torch.empty(n_tables * d_vocab, cfg.d_embed))
        d_in = cfg.d_embed * (n_op if cfg.combine == "concat" else 1)
        widths = [d_in, *cfg.hidden]
        self.layers = nn.ModuleList(MLPLayer(i, o, cfg.bias, cfg.act) for i, o in zip(widths, widths[1:]))
        unembed = nn.Linear(widths[-1], d_vocab_out, bias=cfg.bias)
        self.W_U = nn.Parameter(unembed.weight.detach().T.contiguous())  # [d_hidden, d_vocab_out]
        self.b_U = nn.Parameter(unembed.bias.detach()) if cfg.bias else None
        self.hook_embed = HookPoint()
        self.hook_hidden = HookPoint()
        self.init_embedding(None)

    def init_embedding(self, generator: torch.Generator | None) -> None:
        with torch.no_grad():
            self.W_E.normal_(0.0, self.cfg.embed_init_std, generator=generator)

    def operand_embeddings(self, operand_tokens: torch.Tensor) -> torch.Tensor:
        offsets = rearrange(self.table_offsets, "n -> n 1")
        return self.W_E[operand_tokens + offsets]

    def forward(self, tokens: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """``last_only`` (the training fast path of :class:`GrokModel`) changes nothing: the MLP reads only
        the operand tokens."""
        # F.embedding: its CPU backward is deterministic, unlike the scatter-add of advanced indexing
        emb = self.hook_embed(nn.functional.embedding(tokens[:, self.positions] + self.table_offsets, self.W_E))
        x = rearrange(emb, "b n d -> b (n d)") if self.cfg.combine == "concat" else emb.sum(dim=1)
        for layer in self.layers:
            x = layer(x)
        x = self.hook_hidden(x)
        logits = x @ self.W_U
        return logits + self.b_U if self.b_U is not None else logits
