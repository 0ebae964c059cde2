"""Embedding -> MLP -> unembedding on the two operands (Liu et al. 2022; Chughtai et al. 2023; Ding et al. 2024;
the "linear" models A, B, C, D, X of Zhong et al. 2023, pizza.md §3; the one-hot MLP of Prieto et al. 2025,
numerical_stability.md §2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import einsum, rearrange
from torch import nn

from grokscope.config import NAME_MEANING, Checked, described, require, require_choice
from grokscope.models.base import ACTIVATIONS, D_VOCAB_OUTS, Footprint, GrokModel, resolve_d_vocab_out
from grokscope.models.hooks import HookPoint

COMBINES = ("concat", "concat_separate", "sum", "sum_separate", "sum_first_layer", "one_hot")
INITS = ("torch", "fan_in")


@dataclass
class MLPConfig(Checked):
    """``model=mlp``.

    ``combine``: ``concat`` ``[W_E[a]; W_E[b]]``, ``sum`` ``W_E[a] + W_E[b]`` (one shared table), with one
    table per operand stacked in ``W_E`` (``W_E[d_vocab + b]`` for ``b``): ``concat_separate``
    ``[W_E[a]; W_E[d_vocab + b]]`` (Chughtai et al. 2023's ``W_x``, ``W_y``) and ``sum_separate``; or
    ``sum_first_layer`` ``act((W_E[a] W_in + b_in) + (W_E[b] W_in + b_in))`` (the first hidden layer applied to
    each operand, then summed: ``b_in`` enters once per operand; Zhong et al.'s model C); or ``one_hot``: the
    operands' one-hot vectors concatenated (length ``n_op d_vocab``) through a first layer of width ``d_embed``,
    ``act(W_E[a] + W_E[d_vocab + b] + b_E)`` (the rows of ``W_E`` are that layer's weights: a gather, exactly the
    product with the one-hot input), drawn as ``nn.Linear(n_op d_vocab, d_embed)`` draws them (uniform,
    ``±1/sqrt(n_op d_vocab)``; ``embed_init_std`` is not used), then the ``hidden`` layers (Prieto et al.
    2025's MLP: ``d_embed`` 200, ``hidden`` [200], ReLU, no biases).
    ``bias``: every bias (hidden layers, ``b_E`` of ``one_hot`` and ``b_U``); ``unembed_bias: false`` drops
    ``b_U`` alone.

    ``init`` of ``W_in`` and ``W_U``: ``torch`` is PyTorch's ``nn.Linear`` default (uniform, std
    ``1/sqrt(3 fan_in)``, biases uniform too); ``fan_in`` draws ``N(0, 1/fan_in)`` with zero biases
    (rep_theory.md §4). ``unembed_init_std``, if not null, then redraws ``W_U`` from N(0, std^2).
    """

    name: str = described(NAME_MEANING)
    combine: str = described("how the operands enter: concat [W_E[a]; W_E[b]], sum W_E[a] + W_E[b], one table per "
                             "operand (*_separate), the first layer applied to each operand, then summed, or "
                             "one_hot: the concatenated one-hot inputs through a first layer of width d_embed",
                             choices=COMBINES)
    d_embed: int = described("width of each embedding vector", allowed=">= 1")
    hidden: list[int] = described("widths of the hidden layers", allowed="each >= 1")
    act: str = described("activation of the hidden layers", choices=ACTIVATIONS)
    bias: bool = described("every bias (hidden layers and b_U)")
    unembed_bias: bool = described("b_U (false drops it even with bias)")
    init: str = described("W_in, W_U: torch (nn.Linear's default) or fan_in (N(0, 1/fan_in), zero biases)",
                          choices=INITS)
    embed_init_std: float = described("W_E ~ N(0, std^2), drawn from seeds.embedding (combine=one_hot: unused, "
                                      "W_E is drawn as nn.Linear's weight)", allowed="> 0")
    unembed_init_std: float | None = described("W_U ~ N(0, std^2); null: as init says", allowed="> 0, or null")
    d_vocab_out: str = described("logits: answers (one per answer class) or vocab (one per input token)",
                                 choices=D_VOCAB_OUTS)

    def check(self, prefix: str) -> None:
        require_choice(f"{prefix}.combine", self.combine, COMBINES)
        require(self.d_embed >= 1, f"{prefix}.d_embed", self.d_embed, "must be an integer >= 1")
        require(all(h >= 1 for h in self.hidden), f"{prefix}.hidden", self.hidden, "widths must be >= 1")
        require_choice(f"{prefix}.act", self.act, tuple(ACTIVATIONS))
        require_choice(f"{prefix}.init", self.init, INITS)
        if self.combine == "sum_first_layer":
            require(len(self.hidden) >= 1, f"{prefix}.hidden", self.hidden, "combine=sum_first_layer needs a layer")
        require(self.embed_init_std > 0, f"{prefix}.embed_init_std", self.embed_init_std, "must be > 0")
        require(self.unembed_init_std is None or self.unembed_init_std > 0, f"{prefix}.unembed_init_std",
                self.unembed_init_std, "must be > 0 or null")
        require_choice(f"{prefix}.d_vocab_out", self.d_vocab_out, D_VOCAB_OUTS)

    def footprint(self, shape) -> Footprint:
        """What this model holds on a table of ``shape`` (:class:`~grokscope.models.base.Footprint`): the
        embeddings of every position, then each layer's pre- and post-activations. The fast path is the full
        forward (the MLP reads only the operands)."""
        d_out = resolve_d_vocab_out(self.d_vocab_out, shape.d_vocab, shape.n_classes)
        d_in = self.d_embed * (2 if self.combine.startswith("concat") else 1)
        widths = [d_in, *self.hidden, d_out]
        n_tables = 2 if self.combine.endswith("_separate") or self.combine == "one_hot" else 1
        n_params = n_tables * shape.d_vocab * self.d_embed + sum(a * b + b for a, b in zip(widths, widths[1:]))
        floats = shape.n_ctx * self.d_embed + 2 * sum(widths)
        return Footprint(n_params, floats, floats, d_out, widths[-2])

    def build(self, task) -> MLP:
        return MLP(self, task.d_vocab, resolve_d_vocab_out(self.d_vocab_out, task.d_vocab, task.n_classes),
                   task.operand_positions)




class MLPLayer(nn.Module):
    """``act(x W_in + b_in)`` with a hook on the output."""

    def __init__(self, d_in: int, d_out: int, bias: bool, act: str):
        super().__init__()
        linear = nn.Linear(d_in, d_out, bias=bias)  # PyTorch's default (Kaiming-uniform) init
        self.W_in = nn.Parameter(linear.weight.detach().T.contiguous())  # [d_in, d_out]
        self.b_in = nn.Parameter(linear.bias.detach()) if bias else None
        self.act = ACTIVATIONS[act]
        self.hook_post = HookPoint()

    def forward(self, x: torch.Tensor, sum_dim: int | None = None) -> torch.Tensor:
        """``act(x W_in + b_in)``; with ``sum_dim``, the pre-activations are summed over that axis first."""
        pre = x @ self.W_in
        if self.b_in is not None:
            pre = pre + self.b_in
        if sum_dim is not None:
            pre = pre.sum(dim=sum_dim)
        return self.hook_post(self.act(pre))


class MLP(GrokModel):
    """``logits = h W_U + b_U`` with ``h`` the last hidden layer applied to the combined operand embeddings."""

    hidden_hook = "hook_hidden"

    def __init__(self, cfg: MLPConfig, d_vocab: int, d_vocab_out: int, operand_positions: tuple[int, ...]):
        super().__init__()
        self.cfg, self.d_vocab = cfg, d_vocab
        self.register_buffer("positions", torch.tensor(operand_positions), persistent=False)
        n_op = len(operand_positions)
        self.one_hot = cfg.combine == "one_hot"
        n_tables = n_op if cfg.combine.endswith("_separate") or self.one_hot else 1
        offsets = torch.arange(n_op) * d_vocab if n_tables > 1 else torch.zeros(n_op, dtype=torch.long)
        self.register_buffer("table_offsets", offsets, persistent=False)
        self.W_E = nn.Parameter(torch.empty(n_tables * d_vocab, cfg.d_embed))
        self.b_E = nn.Parameter(torch.empty(cfg.d_embed)) if self.one_hot and cfg.bias else None
        self.concat = cfg.combine.startswith("concat")
        d_in = cfg.d_embed * (n_op if self.concat else 1)
        widths = [d_in, *cfg.hidden]
        self.layers = nn.ModuleList(MLPLayer(i, o, cfg.bias, cfg.act) for i, o in zip(widths, widths[1:]))
        unembed_bias = cfg.bias and cfg.unembed_bias
        unembed = nn.Linear(widths[-1], d_vocab_out, bias=unembed_bias)
        self.W_U = nn.Parameter(unembed.weight.detach().T.contiguous())  # [d_hidden, d_vocab_out]
        self.b_U = nn.Parameter(unembed.bias.detach()) if unembed_bias else None
        self.hook_embed = HookPoint()
        self.hook_hidden = HookPoint()
        if cfg.init == "fan_in":
            self._init_fan_in()
        if cfg.unembed_init_std is not None:
            with torch.no_grad():
                self.W_U.normal_(0.0, cfg.unembed_init_std)
        self.init_embedding(None)

    def _init_fan_in(self) -> None:
        """``N(0, 1/fan_in)`` for every ``W_in`` and ``W_U``, zero biases (rep_theory.md §4)."""
        with torch.no_grad():
            for weight in [*(layer.W_in for layer in self.layers), self.W_U]:
                weight.normal_(0.0, weight.shape[0] ** -0.5)
            for name, param in self.named_parameters():
                if name.rsplit(".", 1)[-1].startswith("b_"):
                    param.zero_()

    def init_embedding(self, generator: torch.Generator | None) -> None:
        """``W_E ~ N(0, embed_init_std^2)``; ``one_hot``: ``W_E`` (and ``b_E``) uniform in ``±1/sqrt(fan_in)``,
        ``fan_in = n_op d_vocab`` (``nn.Linear``'s default for the one-hot layer)."""
        with torch.no_grad():
            if not self.one_hot:
                self.W_E.normal_(0.0, self.cfg.embed_init_std, generator=generator)
                return
            bound = len(self.W_E) ** -0.5
            for param in (self.W_E, self.b_E):
                if param is not None:
                    param.uniform_(-bound, bound, generator=generator)

    def operand_rows(self, operand_tokens: torch.Tensor) -> torch.Tensor:
        return operand_tokens + rearrange(self.table_offsets, "n -> n 1")

    def operand_slots(self, operand_positions: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(range(len(operand_positions)))  # hook_embed holds the operands only, in order

    def effective_embeddings(self, operand_tokens: torch.Tensor) -> torch.Tensor:
        """Each operand's share of the first layer's pre-activation: for ``concat``, ``W_a = W_E[a] W_in[:d]``
        and ``W_b = W_E[b] W_in[d:]`` (rep_theory.md §4); for ``sum``, ``W_E[x] W_in``; for ``one_hot``, the
        rows ``W_E[x]`` themselves (they are the first layer's weights)."""
        emb = self.operand_embeddings(operand_tokens)  # [n_op, n_elements, d_embed]
        if not self.layers or self.one_hot:
            return emb
        W_in = self.layers[0].W_in
        if self.concat:
            return einsum(emb, rearrange(W_in, "(n d) h -> n d h", n=len(emb)), "n e d, n d h -> n e h")
        return einsum(emb, W_in, "n e d, d h -> n e h")

    def hidden_unembed(self) -> torch.Tensor:
        return self.W_U

    def forward(self, tokens: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """``last_only`` (the training fast path of :class:`GrokModel`) changes nothing: the MLP reads only
        the operand tokens."""
        # F.embedding: its CPU backward is deterministic, unlike the scatter-add of advanced indexing
        emb = self.hook_embed(nn.functional.embedding(tokens[:, self.positions] + self.table_offsets, self.W_E))
        layers = iter(self.layers)
        if self.concat:
            x = rearrange(emb, "b n d -> b (n d)")
        elif self.one_hot:
            pre = emb.sum(dim=1)
            x = ACTIVATIONS[self.cfg.act](pre if self.b_E is None else pre + self.b_E)
        elif self.cfg.combine == "sum_first_layer":
            x = next(layers)(emb, sum_dim=1)
        else:
            x = emb.sum(dim=1)
        for layer in layers:
            x = layer(x)
        x = self.hook_hidden(x)
        logits = x @ self.W_U
        return logits + self.b_U if self.b_U is not None else logits
