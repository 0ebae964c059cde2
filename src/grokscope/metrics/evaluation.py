"""Streaming evaluation: one no-grad forward over every row of the table, in row chunks, shared by the split scores
and every metric of an epoch.

Nothing of size ``rows x classes`` is kept. Each chunk's logits give the per-row loss and correctness (one
number each per row, kept: the split scores and the test losses read them) and feed every metric that
**streams** (:class:`Streamed`): a metric names what it accumulates chunk by chunk (class sums, small logit
matrices, loss sums) and may ask for a further pass over some rows once its first pass is summed (the excluded
losses need the key frequencies, which need every row). Only a metric that declares ``needs_rows = True``
makes the evaluation keep every row's logits and hooked activations (:attr:`Evaluation.logits`,
:attr:`Evaluation.cache`). Peak memory: the table, the parameters, one chunk's activations and the
accumulators (:mod:`grokscope.metrics.fit` estimates it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from grokscope.config import MetricKey
from grokscope.losses import Loss
from grokscope.models.hooks import run_with_cache
from grokscope.tasks.base import Task

#: Rows per forward pass of an evaluation. A table of at most this many rows runs in one pass, and a further
#: pass over its rows reads the chunk already computed.
EVAL_CHUNK_ROWS = 1 << 14


@dataclass
class Chunk:
    """Rows ``index [n]`` (long) of the table: their labels ``[n]``, logits ``[n, d_vocab_out]`` and the hooked
    activations ``cache[name] [n, ...]``."""

    index: torch.Tensor
    labels: torch.Tensor
    logits: torch.Tensor
    cache: dict[str, torch.Tensor]

    def select(self, keep: torch.Tensor) -> Chunk:
        """The rows of this chunk where ``keep [n]`` (bool) is true."""
        return Chunk(self.index[keep], self.labels[keep], self.logits[keep],
                     {name: value[keep] for name, value in self.cache.items()})


@dataclass
class Pass:
    """A metric's request for a pass over ``rows`` (long indices into the table; None: every row):
    ``consume(chunk)`` is called on each chunk of them, in order."""

    consume: Callable[[Chunk], None]
    rows: torch.Tensor | None = None


#: What a streamed metric's :meth:`Streamed.stream` is: a generator that yields :class:`Pass` requests (each is
#: run, and the generator resumed, before the next) and returns the metric's values.
Stream = Generator[Pass, None, dict]


class Streamed:
    """Base of a metric computed from sums over row chunks: :meth:`stream` yields the passes it needs and
    returns its values; ``hooks`` are the activations its chunks must hold. Called as a plain metric,
    ``metric(model, task, ev)``, it runs its passes on ``ev`` alone (:meth:`Evaluation.run`)."""

    hooks: tuple[str, ...] = ()
    needs_rows = False

    def stream(self, model, task, ev: Evaluation) -> Stream:
        raise NotImplementedError

    def __call__(self, model, task, ev: Evaluation) -> dict:
        return ev.run([self.stream(model, task, ev)])[0]


def needs_rows(metric) -> bool:
    """Whether ``metric`` reads every row's logits or activations (it says so with ``needs_rows = True``)."""
    return bool(getattr(metric, "needs_rows", False))


def is_streamed(metric) -> bool:
    return callable(getattr(metric, "stream", None))


@dataclass
class Evaluation:
    """One evaluation of ``model`` on ``task``: ``row_loss [N]`` (the run's ``loss``, in its dtype) and
    ``correct [N]`` of every row, and, where kept, every row's logits and hooked activations; :meth:`chunks`
    serves further passes."""

    model: Any
    task: Task
    loss: Loss
    hooks: tuple[str, ...]
    chunk_rows: int
    row_loss: torch.Tensor
    correct: torch.Tensor
    kept: Chunk | None = field(default=None, repr=False)

    @property
    def logits(self) -> torch.Tensor:
        """Every row's logits ``[N, d_vocab_out]``: kept only for a metric that declares ``needs_rows = True``."""
        return self._rows().logits

    @property
    def cache(self) -> dict[str, torch.Tensor]:
        """Every row's hooked activations: kept only for a metric that declares ``needs_rows = True``."""
        return self._rows().cache

    def _rows(self) -> Chunk:
        if self.kept is None or len(self.kept.index) != len(self.row_loss):
            raise RuntimeError("this evaluation streams its rows: a metric that reads every row's logits or "
                               "activations declares needs_rows = True (or stream()s them chunk by chunk)")
        return self.kept

    def chunks(self, rows: torch.Tensor | None = None) -> Iterator[Chunk]:
        """``rows`` (long; None: every row) in chunks of at most ``chunk_rows``: slices of the kept rows, or a
        fresh no-grad forward of each chunk."""
        n = len(self.row_loss)
        if self.kept is not None and len(self.kept.index) == n:
            for start in range(0, n if rows is None else len(rows), self.chunk_rows):
                part = slice(start, start + self.chunk_rows)
                yield self.kept.select(part if rows is None else rows[part])
            return
        yield from forward_chunks(self.model, self.task, self.hooks, self.chunk_rows, rows)

    def run(self, streams: Sequence[Stream]) -> list[dict]:
        """Drive ``streams`` to their end: every round runs the pending passes together (one pass over the union
        of their rows), then resumes each. Returns each stream's values."""
        return _drive(self, streams, first_round=None)


def forward_chunks(model, task: Task, hooks: Sequence[str], chunk_rows: int,
                   rows: torch.Tensor | None = None) -> Iterator[Chunk]:
    """No-grad forwards of ``rows`` (None: all) ``chunk_rows`` at a time, in eval mode, caching ``hooks``.
    Without hooks, a model whose ``forward`` takes ``last_only`` runs its fast path (the same logits; the
    transformer's last block and unembedding at the answer position only, speed.md)."""
    n = len(task.labels) if rows is None else len(rows)
    fast = not hooks and "last_only" in inspect.signature(model.forward).parameters
    was_training = model.training
    model.eval()
    try:
        for start in range(0, n, chunk_rows):
            if rows is None:
                index = torch.arange(start, min(start + chunk_rows, n), device=task.labels.device)
                tokens, labels = task.tokens[start : start + chunk_rows], task.labels[start : start + chunk_rows]
            else:
                index = rows[start : start + chunk_rows]
                tokens, labels = task.tokens[index], task.labels[index]
            if fast:
                with torch.no_grad():
                    logits, cache = model(tokens, last_only=True), {}
            else:
                logits, cache = run_with_cache(model, tokens, hooks)
            yield Chunk(index, labels, logits, cache)
            del logits, cache  # the next chunk's forward runs without this one's arrays
    finally:
        model.train(was_training)


def _advance(stream: Stream) -> tuple[Pass | None, dict | None]:
    try:
        return next(stream), None
    except StopIteration as stop:
        return None, stop.value


def _drive(ev: Evaluation, streams: Sequence[Stream], first_round: Callable[[Chunk], None] | None) -> list[dict]:
    """Run ``streams`` on ``ev``; ``first_round`` (the evaluation's own scores) joins the first round, over
    every row."""
    results: list[dict | None] = [None] * len(streams)
    pending: dict[int, Pass] = {}
    for i, stream in enumerate(streams):
        request, results[i] = _advance(stream)
        if request is not None:
            pending[i] = request
    while pending or first_round is not None:
        _one_round(ev, list(pending.values()), first_round)
        first_round = None
        served, pending = pending, {}
        for i in served:
            try:
                pending[i] = streams[i].send(None)
            except StopIteration as stop:
                results[i] = stop.value
    return results  # type: ignore[return-value]


def _one_round(ev: Evaluation, passes: list[Pass], first_round: Callable[[Chunk], None] | None) -> None:
    """One pass over the union of the rows ``passes`` ask for, feeding each its own rows of every chunk."""
    n = len(ev.row_loss)
    everything = first_round is not None or any(p.rows is None for p in passes)
    wanted = []
    for p in passes:
        if p.rows is None:
            wanted.append(None)
        else:
            mask = torch.zeros(n, dtype=torch.bool, device=ev.row_loss.device)
            mask[p.rows] = True
            wanted.append(mask)
    rows = None
    if not everything:
        union = torch.zeros(n, dtype=torch.bool, device=ev.row_loss.device)
        for mask in wanted:
            union |= mask
        rows = union.nonzero().squeeze(1)
        if not len(rows):
            return
    for chunk in (forward_chunks(ev.model, ev.task, ev.hooks, ev.chunk_rows) if first_round is not None
                  else ev.chunks(rows)):
        if first_round is not None:
            first_round(chunk)
        for p, mask in zip(passes, wanted):
            keep = None if mask is None else mask[chunk.index]
            p.consume(chunk if keep is None or bool(keep.all()) else chunk.select(keep))
        del chunk  # freed before the next chunk's forward


def evaluate(model, task: Task, loss: Loss, hooks: Sequence[str] = (), *, keep_rows: bool = True,
             chunk_rows: int | None = None) -> Evaluation:
    """Evaluate ``model`` on every row of ``task``, ``chunk_rows`` (default :data:`EVAL_CHUNK_ROWS`) at a time,
    keeping every row's logits and the activations named in ``hooks`` (unless ``keep_rows=False``)."""
    return _evaluate(model, task, loss, hooks, (), keep_rows, chunk_rows)[0]


def evaluate_metrics(model, task: Task, loss: Loss, metrics: Sequence, *,
                     chunk_rows: int | None = None) -> tuple[Evaluation, list[dict]]:
    """Evaluate ``model`` on every row of ``task`` and compute ``metrics`` on it: ``(evaluation, values)``,
    ``values[i]`` the values of ``metrics[i]``. The passes of the streamed metrics share the forward (their
    first passes share the evaluation's own); every row's logits and activations are kept only where a metric
    declares ``needs_rows`` (or where the table is one chunk, which is in memory anyway)."""
    keep = any(needs_rows(m) for m in metrics)
    return _evaluate(model, task, loss, (), metrics, keep, chunk_rows)


def _evaluate(model, task: Task, loss: Loss, hooks: Sequence[str], metrics: Sequence, keep: bool,
              chunk_rows: int | None) -> tuple[Evaluation, list[dict]]:
    chunk_rows = chunk_rows or EVAL_CHUNK_ROWS
    n = len(task.labels)
    hooks = tuple(sorted({*hooks, *(h for m in metrics for h in m.hooks)}))
    keep = keep or n <= chunk_rows
    device = task.labels.device
    ev = Evaluation(model, task, loss, hooks, chunk_rows,
                    row_loss=torch.empty(n, dtype=loss.dtype, device=device),
                    correct=torch.empty(n, dtype=torch.bool, device=device))
    kept: list[Chunk] = []

    def scores(chunk: Chunk) -> None:
        rows = slice(int(chunk.index[0]), int(chunk.index[-1]) + 1)
        ev.row_loss[rows] = loss.rows(chunk.logits, chunk.labels)
        # per row, for every mask: not torchmetrics' one accuracy
        ev.correct[rows] = chunk.logits.argmax(dim=-1) == chunk.labels
        if keep:
            kept.append(chunk)
            if rows.stop == n:  # the last chunk: later passes read the kept rows
                ev.kept = kept[0] if len(kept) == 1 else join(kept)
                kept.clear()

    streamed = [m for m in metrics if is_streamed(m)]
    values = dict(zip(map(id, streamed), _drive(ev, [m.stream(model, task, ev) for m in streamed], scores)))
    return ev, [values[id(m)] if is_streamed(m) else m(model, task, ev) for m in metrics]


def join(chunks: list[Chunk]) -> Chunk:
    """One chunk of consecutive ``chunks``."""
    return Chunk(torch.cat([c.index for c in chunks]), torch.cat([c.labels for c in chunks]),
                 torch.cat([c.logits for c in chunks]),
                 {name: torch.cat([c.cache[name] for c in chunks]) for name in chunks[0].cache})


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
    MetricKey("{split}/loss", "mean loss over the rows of the split (loss.kind: softmax cross-entropy, or "
              "StableMax's), in loss_dtype",
              r"\frac{1}{\lvert S\rvert}\sum_{r \in S} -\log \operatorname{softmax}(\ell_r)_{y_r}"
              r"\ \text{(StableMax: } -\log \tfrac{s(\ell_{r,y_r})}{\sum_j s(\ell_{r,j})}\text{)}",
              plot="plots/curves.png"),
    MetricKey("{split}/acc", "fraction of the split's rows whose largest logit is the label",
              r"\frac{1}{\lvert S\rvert}\sum_{r \in S} \mathbb 1\big[\arg\max_c \ell_{r,c} = y_r\big]",
              plot="plots/curves.png"),
)
