"""Whether a run fits its device, decided from the config before any table is built.

A task schema gives the shape of its table (:class:`~grokscope.tasks.base.TableShape`), a model schema its
:class:`~grokscope.models.base.Footprint` (parameters, floats per row of the full forward and of the fast path,
logits, the hidden layer's floats). The estimate (:func:`estimate`, an :class:`Estimate` by component) counts
what a run holds at its peak:

- the table: int64 tokens, labels and operands, boolean masks; per row, the evaluation's loss and correctness
  and the split scores' masks in ``loss_dtype``;
- per member, the parameters with their gradients and two optimizer moments, and a full-batch run's gathered
  training rows;
- the larger of the training step (its batch through the fast path with its saved activations, the logits
  with their ``loss_dtype`` copies and gradients; every member's) and the evaluation. An evaluation pass holds,
  at its peak, either one chunk of :data:`~grokscope.metrics.evaluation.EVAL_CHUNK_ROWS` rows inside the
  forward, or that chunk's logits and cached hooks with the losses' copies and the families' chunk-by-chunk
  work; the progress and rep families' second pass adds their loss tables ``[R, n, n]`` over the ``n``
  classes (:func:`metric_load`). A table of one chunk is kept, and a second pass copies its training rows.

What a forward or a step holds per float of the footprint is a factor measured with
``scripts/bench_scale.py`` on the presets (:data:`FULL_FORWARD_BYTES` and the others), against the *held* peak:
the resident size with the allocator returning freed arrays at once, the CPU's counterpart of CUDA's allocated
memory (glibc's default reuse adds 10-30% that varies between identical runs). No ``rows x classes`` array is
counted: the evaluation streams its rows (:mod:`grokscope.metrics.evaluation`). The tests hold the estimate
within 25% above the held peak on two sizes; ``docs/speed.md`` has it beside the peak at every size measured.
"""

from __future__ import annotations

import dataclasses
import os

from grokscope.config import ConfigError
from grokscope.metrics import evaluation
from grokscope.metrics.class_sums import CHUNK_ELEMENTS
from grokscope.tasks.base import TableShape

#: Bytes per element of the loss dtypes.
LOSS_BYTES = {"float16": 2, "float32": 4, "float64": 8}


def device_memory_bytes(device: str) -> int:
    """Total memory of ``device``: the first CUDA device for ``cuda`` (and ``auto`` when there is one), else
    the machine's physical memory."""
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


#: Bytes held per float of the model's footprint (float32 activations): by a no-grad forward that caches the
#: families' hooks (per float of the full forward), by the fast path a model runs without hooks and by a
#: training step with its saved activations (per float of the fast path); per logit, the extra bytes the loss
#: dtype's copies take beside the float32 logits (in units of the loss dtype's size). Measured with
#: ``scripts/bench_scale.py`` (the held peaks) on nanda_2023 and oocl.
FULL_FORWARD_BYTES = 2.4
FAST_FORWARD_BYTES = 2.7
STEP_BYTES = 2.1
EVAL_LOGIT_COPIES = 2
STEP_LOGIT_COPIES = 3
#: float64 blocks of at most :data:`~grokscope.metrics.class_sums.CHUNK_ELEMENTS` elements that the progress
#: and rep families' chunk-by-chunk work holds at once: in the first pass (class sums of the hidden layer and
#: the logits) and in the second (the excluded losses).
FIRST_PASS_BLOCKS = 1
SECOND_PASS_BLOCKS = 2
#: What a process holds beside its arrays once a run starts (the autograd graph, the optimizer's state
#: dictionaries, the metric families' small buffers).
OVERHEAD_BYTES = 8 << 20


@dataclasses.dataclass(frozen=True)
class MetricLoad:
    """What the metric families add to an evaluation: whether they cache hooks (the full forward runs),
    ``tables`` bytes held through the second pass (the excluded losses' shifted tables), the bytes of their
    chunk-by-chunk work in the ``first`` and the ``second`` pass, and whether the pizza template fits run
    (chunked ``[rows, p]`` arrays)."""

    hooks: bool = False
    tables: int = 0
    first: int = 0
    second: int = 0
    pizza: bool = False


def metric_load(config, shape: TableShape) -> MetricLoad:
    """The load of ``config``'s families that may apply on a table of ``shape``: on the whole table of pairs of
    ``n`` classes, the progress family (residues) or the rep family (a group) caches the hidden layer, holds
    two (progress) or four (rep: logits and hidden layer) float64 ``[R, n, n]`` tables, ``R <= n / 2 + 2``, and
    works on float64 blocks of at most :data:`~grokscope.metrics.class_sums.CHUNK_ELEMENTS` elements: rows of
    the hidden layer or the logits in the first pass, of the logits in the second."""
    families = getattr(config.metrics, "families", {})
    n = shape.n_classes

    def on(name: str) -> bool:
        return name in families and families[name].enabled != "false"

    if shape.n_rows != n * n:
        return MetricLoad()
    residues = shape.modulus is not None
    n_tables = 2 if residues and on("progress") else 4 if on("rep") else 0
    if not n_tables:
        return MetricLoad(pizza=residues and on("pizza"))
    chunk = min(shape.n_rows, evaluation.EVAL_CHUNK_ROWS)
    width = max(n, config.model.footprint(shape).hidden_floats)
    return MetricLoad(hooks=True, tables=n_tables * (n // 2 + 2) * n * n * 8,
                      first=FIRST_PASS_BLOCKS * min(CHUNK_ELEMENTS, chunk * width) * 8,
                      second=SECOND_PASS_BLOCKS * min(CHUNK_ELEMENTS, chunk * n) * 8, pizza=residues and on("pizza"))


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A run's estimated bytes by component: ``table`` (tokens, labels, operands, masks, per-row scores),
    ``weights`` (every member's parameters, gradients, optimizer moments and gathered training rows), ``step``
    (one training step's activations and logits, every member's) and ``evaluation`` (one member's weights and
    the larger of an evaluation's passes), beside the process's :data:`OVERHEAD_BYTES`."""

    table: int
    weights: int
    step: int
    evaluation: int

    @property
    def stepping(self) -> int:
        """The bytes held while a step runs."""
        return OVERHEAD_BYTES + self.table + self.weights + self.step

    @property
    def evaluating(self) -> int:
        """The bytes held while an evaluation runs."""
        return OVERHEAD_BYTES + self.table + self.weights + self.evaluation

    @property
    def total(self) -> int:
        """The peak: the larger of the two."""
        return max(self.stepping, self.evaluating)


def run_estimate(shape: TableShape, model, loss_dtype: str, n_members: int = 1, batch_size: int | None = None,
                 metrics: MetricLoad = MetricLoad(), chunk_rows: int | None = None) -> Estimate:
    """The :class:`Estimate` of a run of ``model`` (a model schema) on a table of ``shape``: ``batch_size``
    rows per loss term per step (None: full batch), the families' ``metrics`` load, evaluation chunks of
    ``chunk_rows`` (default :data:`~grokscope.metrics.evaluation.EVAL_CHUNK_ROWS`)."""
    footprint = model.footprint(shape)
    loss = LOSS_BYTES[loss_dtype]
    rows = shape.n_rows
    n_train = rows if shape.n_train is None else shape.n_train
    # int64 tokens, labels and operands, boolean masks; per row the loss, the correctness and the scores' masks
    table = rows * ((shape.n_ctx + 3) * 8 + shape.n_masks) + rows * (loss + 1) * (shape.n_masks + 1)
    batch = n_train if batch_size is None else min(n_train, batch_size * shape.n_terms)
    gathered = batch * (shape.n_ctx + 1) * 8 if batch_size is None else 0
    weights = footprint.n_params * 4 * 4  # float32 parameters, gradients and two optimizer moments
    step = batch * (footprint.fast_floats * STEP_BYTES + footprint.n_logits * (4 + STEP_LOGIT_COPIES * loss))
    chunk = min(rows, chunk_rows or evaluation.EVAL_CHUNK_ROWS)
    # per row: what a forward holds at its peak, inside the model; what its chunk holds after it (the logits and
    # the cached hooks) with the losses' copies of the logits
    inside = footprint.full_floats * FULL_FORWARD_BYTES if metrics.hooks else footprint.fast_floats * FAST_FORWARD_BYTES
    after = ((footprint.hidden_floats if metrics.hooks else 0) + footprint.n_logits) * 4
    losses = footprint.n_logits * EVAL_LOGIT_COPIES * loss
    first = max(chunk * inside, chunk * (after + losses) + metrics.first)
    second = 0
    if metrics.tables:  # a table of one chunk is kept, and the second pass copies its training rows
        again = min(chunk, n_train)
        work = again * (after + losses) + metrics.second
        second = metrics.tables + (rows * after + work if rows <= chunk else max(again * inside, work))
    pizza = chunk * (footprint.fast_floats * FAST_FORWARD_BYTES + shape.n_classes * 8 * 4) if metrics.pizza else 0
    return Estimate(table, n_members * (weights + gathered), n_members * step,
                    footprint.n_params * 4 + max(first, second, pizza))


def estimate(config, task=None) -> Estimate:
    """:func:`run_estimate` of a validated ``config`` (its task schema, or ``task``)."""
    run = config.run
    task = config.task if task is None else task
    shape = task.table_shape(config)
    return run_estimate(shape, config.model, run.loss_dtype, run.ensemble.n_members, run.batch_size,
                        metric_load(config, shape))


def estimate_bytes(config, task=None) -> int:
    """The estimated peak bytes of a validated ``config`` (its task schema, or ``task``)."""
    return estimate(config, task).total


def _gb(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def require_fits(task, config, prefix: str) -> None:
    """Refuse ``task`` (a task schema with ``table_shape(config)``) when the run cannot fit the device; for a
    task sized by ``p``, name the largest ``p`` that fits."""
    run = config.run

    def need(schema) -> int:
        return estimate_bytes(config, schema)

    have = device_memory_bytes(run.device)
    if need(task) <= have:
        return
    key, value = (f"{prefix}.p", task.p) if hasattr(task, "p") else (prefix, task.name)
    hint = ""
    if hasattr(task, "p"):
        low, high = 2, task.p  # need(low) fits on any device we run on; need(high) does not
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if need(dataclasses.replace(task, p=mid)) <= have else (low, mid)
        hint = f"; at most p={low} fits"
    raise ConfigError(key, value, f"the table, model, training step and evaluation need about {_gb(need(task))}, "
                      f"more than the {_gb(have)} of device={run.device}{hint}")
