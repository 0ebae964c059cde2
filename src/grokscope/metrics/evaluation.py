"""One no-grad forward over the whole table, shared by every metric of an epoch."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grokscope.config import MetricKey
from grokscope.models.hooks import run_with_cache
from grokscope.tasks.base import Task


@dataclass
class Evaluation:
    """Logits ``[N, d_vocab_out]`` of every row, the cached hook activations, per-row loss and correctness."""

    logits: torch.Tensor
    cache: dict[str, torch.Tensor]
    row_loss: torch.Tensor
    correct: torch.Tensor


def cross_entropy_rows(logits: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Per-row cross-entropy ``-log softmax(logits)[label]`` computed in ``dtype``."""
    return torch.nn.functional.cross_entropy(logits.to(dtype), labels, reduction="none")


#: Rows per forward pass of :func:`evaluate`: bounds the activation memory of big tables (the OOCL original's
#: 2M rows would need ~80 GB in one pass); tables up to this size run in one pass.
EVAL_CHUNK_ROWS = 1 << 16


def evaluate(model: torch.nn.Module, task: Task, loss_dtype: torch.dtype, hooks=()) -> Evaluation:
    """Run all ``N`` rows, ``EVAL_CHUNK_ROWS`` at a time; cache the activations named in ``hooks``."""
    was_training = model.training
    model.eval()
    chunks = [run_with_cache(model, tokens, hooks) for tokens in task.tokens.split(EVAL_CHUNK_ROWS)]
    model.train(was_training)
    row_loss = torch.cat([cross_entropy_rows(logits, labels, loss_dtype)
                          for (logits, _), labels in zip(chunks, task.labels.split(EVAL_CHUNK_ROWS))])
    logits = torch.cat([logits for logits, _ in chunks])
    return Evaluation(
        logits=logits,
        cache={name: torch.cat([cache[name] for _, cache in chunks]) for name in hooks},
        row_loss=row_loss,
        correct=logits.argmax(dim=-1) == task.labels,  # per row, for every mask: not torchmetrics' one accuracy
    )


def split_scores(ev: Evaluation, task: Task) -> dict[str, float]:
    """``{mask}/loss`` (mean CE) and ``{mask}/acc`` for every evaluated mask, with one host transfer."""
    masks = torch.stack([task.masks[m] for m in task.eval_masks]).to(ev.row_loss.dtype)  # [n_masks, N]
    counts = masks.sum(dim=1)
    losses = masks @ ev.row_loss / counts
    accs = masks @ ev.correct.to(masks.dtype) / counts
    values = torch.cat([losses, accs]).tolist()
    n = len(task.eval_masks)
    out = {f"{m}/loss": values[i] for i, m in enumerate(task.eval_masks)}
    out.update({f"{m}/acc": values[n + i] for i, m in enumerate(task.eval_masks)})
    return out


#: What every run logs, every ``log_every_n_epochs`` (and at each metric epoch): the row's epoch and
#: :func:`split_scores` of every evaluated split (``train``, ``test``; ``task=oocl``: ``train1``, ``train2``,
#: ``links``, ``holdout1``, ``holdout2``, ``holdout1_alias_seen``, ``holdout1_alias_unseen``).
KEYS = (
    MetricKey("epoch", "optimizer steps taken when the row was logged (0: the initial model)",
              plot="plots/curves.png"),
    MetricKey("{split}/loss", "mean cross-entropy over the rows of the split, in loss_dtype",
              r"\frac{1}{\lvert S\rvert}\sum_{r \in S} -\log \operatorname{softmax}(\ell_r)_{y_r}",
              plot="plots/curves.png"),
    MetricKey("{split}/acc", "fraction of the split's rows whose largest logit is the label",
              r"\frac{1}{\lvert S\rvert}\sum_{r \in S} \mathbb 1\big[\arg\max_c \ell_{r,c} = y_r\big]",
              plot="plots/curves.png"),
)
