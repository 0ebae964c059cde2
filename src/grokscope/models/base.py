"""What every model exposes to metrics and interventions."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.functional.relu, "silu": nn.functional.silu, "gelu": nn.functional.gelu}


class GrokModel(nn.Module):
    """A model ``tokens [batch, n_ctx] -> logits [batch, d_vocab_out]`` at the answer position.

    Subclasses own the parameters ``W_E [d_vocab_embed, d_embed]`` and ``W_U [d_hidden, d_vocab_out]`` and
    implement :meth:`operand_embeddings` and :meth:`init_embedding`. ``forward(tokens, last_only=True)`` is
    the training fast path: the same logits, computing only what the answer position needs (speed.md §4);
    the default full forward feeds every hook point at every position (metrics).
    """

    W_E: nn.Parameter
    W_U: nn.Parameter

    def operand_embeddings(self, operand_tokens: torch.Tensor) -> torch.Tensor:
        """Embedding vectors ``[n_operands, n_elements, d_embed]`` of each element at each operand slot."""
        return self.W_E[operand_tokens]

    def init_embedding(self, generator: torch.Generator) -> None:
        """Draw ``W_E`` from ``generator`` (``seeds.embedding``), independently of the rest of the init."""
        raise NotImplementedError


def resolve_d_vocab_out(option: str, d_vocab: int, n_classes: int) -> int:
    """``answers``: one logit per class; ``vocab``: one per input token (Nanda's original, p + 1)."""
    return n_classes if option == "answers" else d_vocab
