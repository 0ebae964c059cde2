"""A TransformerLens-style decoder (Nanda et al. 2023 §2; Chughtai et al. 2023 §4; Zhong et al. 2023 §2).

Parameter names and hook points follow TransformerLens: ``W_E [d_vocab, d_model]``, ``W_pos [n_ctx, d_model]``,
``blocks.{i}.attn.W_Q [n_heads, d_model, d_head]``, ``W_O [n_heads, d_head, d_model]``,
``blocks.{i}.mlp.W_in [d_model, d_mlp]``, ``W_out [d_mlp, d_model]``, ``W_U [d_model, d_vocab_out]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from einops import einsum, rearrange
from torch import nn

from grokscope.config import NAME_MEANING, Checked, described, require, require_choice
from grokscope.models.base import ACTIVATIONS, D_VOCAB_OUTS, Footprint, GrokModel, resolve_d_vocab_out
from grokscope.models.hooks import HookPoint

INITS = ("nanda", "tl", "zhong")


@dataclass
class TransformerConfig(Checked):
    """``model=transformer``.

    ``init``: ``nanda`` draws every weight from N(0, 1/d_model) and ``W_U`` from N(0, 1/d_vocab)
    (nanda_progress_measures.md §2); ``zhong`` is the same but ``W_in`` from N(0, 1/d_mlp) (pizza.md §2);
    ``tl`` draws every weight from N(0, (0.8/sqrt(d_model))^2) (TransformerLens' default, rep_theory.md §4).
    Biases start at zero.

    ``d_head: null`` means ``d_model / n_heads`` (which must divide) and ``d_mlp: null`` means ``4 d_model``;
    :meth:`check` fills them in. ``attention_rate`` is the α of :class:`Attention`.
    """

    name: str = described(NAME_MEANING)
    n_layers: int = described("transformer blocks", allowed=">= 1")
    d_model: int = described("width of the residual stream (and of W_E)", allowed=">= 1")
    n_heads: int = described("attention heads per block", allowed=">= 1")
    d_head: int | None = described("width of each head; null: d_model / n_heads (which must divide)",
                                   allowed=">= 1, or null")
    d_mlp: int | None = described("width of each MLP; null: 4 d_model", allowed=">= 1, or null")
    act: str = described("activation of the MLPs", choices=ACTIVATIONS)
    layer_norm: bool = described("pre-LayerNorm in every block and before the unembedding")
    attn_only: bool = described("blocks without MLPs")
    attn_bias: bool = described("b_Q, b_K, b_V, b_O")
    unembed_bias: bool = described("b_U")
    causal: bool = described("causal attention mask (false: bidirectional)")
    attention_rate: float = described("alpha: pattern = alpha softmax(scores) + (1 - alpha) (1: ordinary attention)",
                                      allowed="[0, 1]")
    init: str = described("nanda: N(0, 1/d_model), W_U N(0, 1/d_vocab); zhong: nanda with W_in N(0, 1/d_mlp); tl: "
                          "N(0, (0.8/sqrt(d_model))^2)", choices=INITS)
    freeze_biases: bool = described("biases stay at zero (not trained)")
    d_vocab_out: str = described("logits: answers (one per answer class) or vocab (one per input token)",
                                 choices=D_VOCAB_OUTS)

    def check(self, prefix: str) -> None:
        for key in ("n_layers", "d_model", "n_heads"):
            require(getattr(self, key) >= 1, f"{prefix}.{key}", getattr(self, key), "must be an integer >= 1")
        for key in ("d_head", "d_mlp"):
            value = getattr(self, key)
            require(value is None or value >= 1, f"{prefix}.{key}", value, "must be an integer >= 1 or null")
        if self.d_head is None:
            require(self.d_model % self.n_heads == 0, f"{prefix}.d_model", self.d_model,
                    f"must be divisible by n_heads={self.n_heads} (d_head: null means d_model / n_heads)")
            self.d_head = self.d_model // self.n_heads
        if self.d_mlp is None:
            self.d_mlp = 4 * self.d_model
        require(0 <= self.attention_rate <= 1, f"{prefix}.attention_rate", self.attention_rate, "must be in [0, 1]")
        require_choice(f"{prefix}.act", self.act, tuple(ACTIVATIONS))
        require_choice(f"{prefix}.init", self.init, INITS)
        require_choice(f"{prefix}.d_vocab_out", self.d_vocab_out, D_VOCAB_OUTS)

    def footprint(self, shape) -> Footprint:
        """What this model holds on a table of ``shape`` (:class:`~grokscope.models.base.Footprint`). Per layer
        and position: the residual hooks, ``ln1``'s output and the MLP output (``6 d_model``), ``q``, ``k``,
        ``v`` and ``z`` (``4 d_attn``), the scores and pattern (``2 n_heads n_ctx``), the MLP's pre- and
        post-activations (``2 d_mlp``). The full forward holds them at every position of every layer, plus the
        embeddings; the fast path runs earlier layers in full and the last layer at the answer position, with
        the keys and values of the others."""
        d_out = resolve_d_vocab_out(self.d_vocab_out, shape.d_vocab, shape.n_classes)
        d_attn = self.n_heads * self.d_head
        d_mlp = 0 if self.attn_only else self.d_mlp
        layer_params = 4 * d_attn * self.d_model + 2 * self.d_model * d_mlp
        n_params = (shape.d_vocab + shape.n_ctx) * self.d_model + self.n_layers * layer_params + self.d_model * d_out
        n_ctx = shape.n_ctx
        per_position = 6 * self.d_model + 4 * d_attn + 2 * self.n_heads * n_ctx + 2 * d_mlp  # one layer
        full = n_ctx * (self.n_layers * per_position + 2 * self.d_model)
        fast = n_ctx * ((self.n_layers - 1) * per_position + self.d_model) + per_position + 2 * d_attn * (n_ctx - 1)
        return Footprint(n_params, full, fast, d_out, n_ctx * d_mlp)

    def build(self, task) -> Transformer:
        d_out = resolve_d_vocab_out(self.d_vocab_out, task.d_vocab, task.n_classes)
        return Transformer(self, task.d_vocab, d_out, task.n_ctx)




class TokenTable(NamedTuple):
    """A block input with few distinct rows: ``x[b, j] = rows[index[b, j]]``.

    The first block reads ``W_E[t] + W_pos[j]``, which takes only ``n_ctx * d_vocab`` values, so the training
    fast path applies ``ln1`` and the ``Q``/``K``/``V`` projections once per distinct row and gathers the
    results (with ``F.embedding``, whose CPU backward is deterministic), instead of once per input position:
    the same logits in exact arithmetic, with ``n_ctx * d_vocab`` projected rows instead of ``batch * n_ctx``.
    """

    rows: torch.Tensor  # [n_rows, d_model]
    index: torch.Tensor  # long [batch, n_ctx]

    def map(self, fn) -> TokenTable:
        return TokenTable(fn(self.rows), self.index)

    def last(self) -> TokenTable:
        return TokenTable(self.rows, self.index[:, -1:])

    def gather(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``rows[index]`` (default: the table's own rows) of shape ``[batch, n, *rows.shape[1:]]``."""
        rows = self.rows if rows is None else rows
        flat = nn.functional.embedding(self.index, rearrange(rows, "r ... -> r (...)"))
        return flat.view(*self.index.shape, *rows.shape[1:])


class LayerNorm(nn.Module):
    """LayerNorm with TransformerLens names (``w``, ``b``) and a hook on the normalised output."""

    def __init__(self, d: int):
        super().__init__()
        self.w, self.b = nn.Parameter(torch.ones(d)), nn.Parameter(torch.zeros(d))
        self.hook_normalized = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_normalized(nn.functional.layer_norm(x, x.shape[-1:], self.w, self.b))


class Attention(nn.Module):
    """Multi-head attention; scores ``q.k / sqrt(d_head)``, optional causal mask, attention rate α.

    The pattern is ``A = α softmax(scores) + (1 - α)`` (pizza.md §2): ``1 - α`` is *added* to every entry,
    so rows do not sum to 1 for α < 1 and at α = 0 every query receives the sum of all value vectors
    (constant attention); α = 1 is ordinary attention. With ``causal`` the constant is added to the visible
    entries only (the original never masks; its models are bidirectional).
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        h, d, dh = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q, self.W_K, self.W_V = (nn.Parameter(torch.empty(h, d, dh)) for _ in range(3))
        self.W_O = nn.Parameter(torch.empty(h, dh, d))
        if cfg.attn_bias:
            self.b_Q, self.b_K, self.b_V = (nn.Parameter(torch.zeros(h, dh)) for _ in range(3))
            self.b_O = nn.Parameter(torch.zeros(d))
        else:  # Nanda's original attention has no biases
            self.b_Q = self.b_K = self.b_V = self.b_O = None
        self.causal, self.scale, self.attention_rate = cfg.causal, 1.0 / math.sqrt(dh), cfg.attention_rate
        for name in ("q", "k", "v", "attn_scores", "pattern", "z"):
            setattr(self, f"hook_{name}", HookPoint())

    @staticmethod
    def _project(x: torch.Tensor | TokenTable, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """``x W + b`` per head, ``[batch, pos, n_heads, d_head]``; a :class:`TokenTable` is projected per row."""
        rows = x.rows if isinstance(x, TokenTable) else x
        out = einsum(rows, W, "... d, h d e -> ... h e")
        out = out if b is None else out + b
        return x.gather(out) if isinstance(x, TokenTable) else out

    def forward(self, x: torch.Tensor | TokenTable, last_only: bool = False) -> torch.Tensor:
        """``last_only``: queries (and so the output) only at the last position; keys and values at all
        positions (speed.md §4)."""
        last = x.last() if isinstance(x, TokenTable) else x[:, -1:]
        q = self.hook_q(self._project(last if last_only else x, self.W_Q, self.b_Q))
        k = self.hook_k(self._project(x, self.W_K, self.b_K))
        v = self.hook_v(self._project(x, self.W_V, self.b_V))
        scores = einsum(q, k, "b q h e, b k h e -> b h q k") * self.scale
        future = None
        if self.causal:  # query i (of the last n_q positions) sees keys up to n_k - n_q + i
            n_q, n_k = q.shape[1], k.shape[1]
            future = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).triu(diagonal=n_k - n_q + 1)
            scores = scores.masked_fill(future, float("-inf"))
        pattern = self.hook_attn_scores(scores).softmax(dim=-1)
        if self.attention_rate != 1.0:  # 1 - α added to every (visible) entry
            constant = 1.0 - self.attention_rate
            pattern = self.attention_rate * pattern + (constant if future is None else constant * ~future)
        pattern = self.hook_pattern(pattern)
        z = self.hook_z(einsum(pattern, v, "b h q k, b k h e -> b q h e"))
        out = einsum(z, self.W_O, "b q h e, h e d -> b q d")
        return out if self.b_O is None else out + self.b_O


class MLPBlock(nn.Module):
    """``act(x W_in + b_in) W_out + b_out`` with TransformerLens hooks ``hook_pre``/``hook_post``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.act = ACTIVATIONS[cfg.act]
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        post = self.hook_post(self.act(self.hook_pre(x @ self.W_in + self.b_in)))
        return post @ self.W_out + self.b_out


class Block(nn.Module):
    """Residual block: ``x + attn(ln1(x))``, then ``+ mlp(ln2(x))`` unless attention-only."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln1 = LayerNorm(cfg.d_model) if cfg.layer_norm else nn.Identity()
        self.attn = Attention(cfg)
        self.mlp = None if cfg.attn_only else MLPBlock(cfg)
        self.ln2 = LayerNorm(cfg.d_model) if cfg.layer_norm and not cfg.attn_only else nn.Identity()
        for name in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"):
            setattr(self, f"hook_{name}", HookPoint())

    def forward(self, x: torch.Tensor | TokenTable, last_only: bool = False) -> torch.Tensor:
        """``last_only``: the residual stream leaves the block at the last position only. A
        :class:`TokenTable` input (the first block of the training fast path) skips ``hook_resid_pre``."""
        if isinstance(x, TokenTable):
            attn_out = self.hook_attn_out(self.attn(x.map(self.ln1), last_only))
            x = (x.last() if last_only else x).gather()
        else:
            x = self.hook_resid_pre(x)
            attn_out = self.hook_attn_out(self.attn(self.ln1(x), last_only))
            x = x[:, -1:] if last_only else x
        x = self.hook_resid_mid(x + attn_out)
        if self.mlp is not None:
            x = x + self.hook_mlp_out(self.mlp(self.ln2(x)))
        return self.hook_resid_post(x)


class Transformer(GrokModel):
    """Decoder over ``[a, b, (=)]`` with learned positions; logits read at the last position."""

    def __init__(self, cfg: TransformerConfig, d_vocab: int, d_vocab_out: int, n_ctx: int):
        super().__init__()
        self.cfg = cfg
        self.W_E = nn.Parameter(torch.empty(d_vocab, cfg.d_model))
        self.W_pos = nn.Parameter(torch.empty(n_ctx, cfg.d_model))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = LayerNorm(cfg.d_model) if cfg.layer_norm else nn.Identity()
        self.W_U = nn.Parameter(torch.empty(cfg.d_model, d_vocab_out))
        self.b_U = nn.Parameter(torch.zeros(d_vocab_out)) if cfg.unembed_bias else None
        self.hook_embed, self.hook_pos_embed = HookPoint(), HookPoint()
        self.d_vocab = d_vocab
        # row of (position j, token t) in the fast path's TokenTable: j * d_vocab + t
        self.register_buffer("token_offsets", torch.arange(n_ctx) * d_vocab, persistent=False)
        self._init_weights()
        if cfg.freeze_biases:
            for name, param in self.named_parameters():
                if name.rsplit(".", 1)[-1].startswith("b_"):
                    param.requires_grad_(False)

    def _std(self, name: str) -> float:
        if self.cfg.init == "tl":
            return 0.8 / math.sqrt(self.cfg.d_model)
        if self.cfg.init == "zhong" and name == "W_in":
            return 1.0 / math.sqrt(self.cfg.d_mlp)
        return 1.0 / math.sqrt(self.d_vocab if name == "W_U" else self.cfg.d_model)

    def _init_weights(self) -> None:
        with torch.no_grad():
            for name, param in self.named_parameters():
                short = name.rsplit(".", 1)[-1]
                if short.startswith("W_"):
                    param.normal_(0.0, self._std(short))

    def init_embedding(self, generator: torch.Generator | None) -> None:
        with torch.no_grad():
            self.W_E.normal_(0.0, self._std("W_E"), generator=generator)

    @property
    def hidden_hook(self) -> str | None:
        """The last block's MLP activations (``None`` for attention-only models)."""
        return None if self.cfg.attn_only else f"blocks.{self.cfg.n_layers - 1}.mlp.hook_post"

    def hidden(self, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        return cache[self.hidden_hook][:, -1]

    def hidden_unembed(self) -> torch.Tensor:
        """``W_out W_U``: the direct path from the last MLP to the logits, ignoring ``ln_final``."""
        return self.blocks[-1].mlp.W_out @ self.W_U

    def forward(self, tokens: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Logits at the last position. ``last_only`` (the training fast path) computes the last block's
        query, attention output, MLP and the unembedding only there; earlier blocks feed keys and values of
        every position, so they run in full (speed.md §4). Hooks of the last block then see one position.
        The fast path also projects the first block's input per distinct ``(position, token)``
        (:class:`TokenTable`; when there are fewer of those than input positions) and then calls neither
        ``hook_embed`` nor ``hook_pos_embed``."""
        n_ctx = tokens.shape[1]
        if last_only and n_ctx * self.d_vocab < tokens.numel():
            rows = rearrange(self.W_pos[:n_ctx], "j d -> j 1 d") + self.W_E  # [n_ctx, d_vocab, d_model]
            x = TokenTable(rearrange(rows, "j t d -> (j t) d"), tokens + self.token_offsets[:n_ctx])
        else:
            # F.embedding: its CPU backward is deterministic, unlike the scatter-add of advanced indexing
            x = self.hook_embed(nn.functional.embedding(tokens, self.W_E))
            x = x + self.hook_pos_embed(self.W_pos[:n_ctx])
        for i, block in enumerate(self.blocks):
            x = block(x, last_only and i == len(self.blocks) - 1)
        return self.unembed(x)

    def to_transformer_lens(self):
        """This model as TransformerLens's ``TransformerBridge`` (the ``tl`` extra; :mod:`grokscope.models.tl`)."""
        from grokscope.models.tl import to_transformer_lens

        return to_transformer_lens(self)

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``ln_final(x[:, -1]) W_U + b_U`` of the residual stream ``x [batch, pos, d_model]``."""
        logits = self.ln_final(x[:, -1]) @ self.W_U
        return logits if self.b_U is None else logits + self.b_U
