"""What every model exposes to metrics and interventions."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from grokscope.config import ConfigError

ACTIVATIONS = {"relu": nn.functional.relu, "silu": nn.functional.silu, "gelu": nn.functional.gelu}
#: ``model.d_vocab_out``: one logit per answer class, or one per input token
D_VOCAB_OUTS = ("answers", "vocab")


class Footprint(NamedTuple):
    """What a model of some schema holds on a table of some shape (:mod:`grokscope.metrics.fit`): its
    parameters, the floats per row of a full forward (every hooked activation at every position), of the fast
    path ``forward(last_only=True)`` (what it computes for the answer position), its logits per row and the
    floats per row of the hidden layer's hook (``hidden_hook``, at every position it is hooked), which the
    progress and rep families cache."""

    n_params: int
    full_floats: int
    fast_floats: int
    n_logits: int
    hidden_floats: int


class GrokModel(nn.Module):
    """A model ``tokens [batch, n_ctx] -> logits [batch, d_vocab_out]`` at the answer position.

    Subclasses own the parameters ``W_E [d_vocab_embed, d_embed]`` and ``W_U [d_hidden, d_vocab_out]`` and
    implement :meth:`operand_embeddings` and :meth:`init_embedding`. ``forward(tokens, last_only=True)`` is
    the training fast path: the same logits, computing only what the answer position needs (speed.md §4);
    the default full forward feeds every hook point at every position (metrics).
    """

    W_E: nn.Parameter
    W_U: nn.Parameter
    #: Hook point of the hidden layer that the unembedding reads (``None``: the model has none).
    hidden_hook: str | None

    def operand_rows(self, operand_tokens: torch.Tensor) -> torch.Tensor:
        """Rows of ``W_E`` ``[n_operands, n_elements]`` that embed each element at each operand slot."""
        return operand_tokens

    def operand_embeddings(self, operand_tokens: torch.Tensor) -> torch.Tensor:
        """Embedding vectors ``[n_operands, n_elements, d_embed]`` of each element at each operand slot."""
        return self.W_E[self.operand_rows(operand_tokens)]

    def operand_table_rows(self, task) -> torch.Tensor:
        """Rows of ``W_E`` ``[n_tables, n_elements]`` of each distinct operand table, in operand order: operands
        that share their rows (one table for all operands) count once."""
        rows = self.operand_rows(task.operand_tokens)  # [n_operands, n_elements]
        return rows[[i for i in range(len(rows)) if not any(torch.equal(rows[i], rows[j]) for j in range(i))]]

    def operand_tables(self, task) -> torch.Tensor:
        """The operand tables of ``W_E``: ``[n_tables, n_elements, d_embed]``, table ``t`` row ``x`` the embedding
        of element ``x`` (:meth:`operand_table_rows`; a gathered copy, differentiable). With
        :meth:`operand_table_rows`, the one way to find an operand's rows of ``W_E``."""
        return self.W_E[self.operand_table_rows(task)]

    def operand_slots(self, operand_positions: tuple[int, ...]) -> tuple[int, ...]:
        """Index of each operand along the second axis of ``hook_embed``'s output ``[batch, slot, d_embed]``."""
        return operand_positions

    def effective_embeddings(self, operand_tokens: torch.Tensor) -> torch.Tensor:
        """What each element contributes at each operand slot, ``[n_operands, n_elements, d]``: the vectors whose
        irrep content the metrics measure (rep_theory.md §4, §6; the embeddings themselves by default)."""
        return self.operand_embeddings(operand_tokens)

    def hidden(self, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        """Hidden activations ``[batch, d_hidden]`` at the answer position, from a cache holding ``hidden_hook``."""
        return cache[self.hidden_hook]

    def hidden_unembed(self) -> torch.Tensor:
        """The linear map ``U [d_hidden, d_vocab_out]`` from the hidden layer to the logits (rep_theory.md §6)."""
        raise NotImplementedError

    def init_embedding(self, generator: torch.Generator) -> None:
        """Draw ``W_E`` from ``generator`` (``seeds.embedding``), independently of the rest of the init."""
        raise NotImplementedError

    def to_transformer_lens(self):
        """This model as TransformerLens's ``TransformerBridge``: only ``model=transformer`` (and the presets built
        on it) has one; any other model raises :class:`~grokscope.config.ConfigError` naming its model."""
        name = getattr(getattr(self, "cfg", None), "name", type(self).__name__)
        raise ConfigError("model", name, "to_transformer_lens() exports model=transformer (and the presets "
                                              "built on it) only: TransformerLens has no MLP of this shape")


def resolve_d_vocab_out(option: str, d_vocab: int, n_classes: int) -> int:
    """``answers``: one logit per class; ``vocab``: one per input token (Nanda's original, p + 1)."""
    return n_classes if option == "answers" else d_vocab
