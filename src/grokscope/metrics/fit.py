"""Whether a run fits its device, decided from the config before any table is built.

A task schema gives the shape of its table (:class:`~grokscope.tasks.base.TableShape`), a model schema its
``footprint`` (parameter count, floats per row of a full forward, logits per row). The estimate counts what a
run keeps at its peak (:func:`run_bytes`):

- the table: int64 tokens, labels and operands, boolean masks; per row, the evaluation's loss and correctness
  and the split scores' masks in ``loss_dtype``;
- per member, the parameters with their gradients and two optimizer moments, and a full-batch run's gathered
  training rows;
- the larger of the training step (its batch: the forward's activations and the logits with their
  ``loss_dtype`` copies and gradients; every member's) and the evaluation: one chunk of
  :data:`~grokscope.metrics.evaluation.EVAL_CHUNK_ROWS` rows through the forward, with its logits and their
  losses, plus what the metric families accumulate (:func:`metric_load`: the progress and rep families' loss
  tables ``[R, n, n]`` over the ``n`` classes, held through their second pass, where they may apply).

What a forward holds per row is the model's footprint times a factor measured on the presets
(:data:`FULL_FORWARD_BYTES` and the others).

The evaluation streams its rows (:mod:`grokscope.metrics.evaluation`), so no ``rows x classes`` array is
counted. ``scripts/bench_scale.py`` prints the estimate beside the measured peak; the tests hold it within 25%
above the peak measured on two sizes.
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


#: Bytes held per float of the model's footprint (every hooked activation at every position, float32) by a
#: no-grad forward with the families' hooks cached (the full forward), by the fast path a model runs without
#: hooks, and by a training step (the fast path with its saved activations); measured with
#: ``scripts/bench_scale.py`` on nanda_2023 (p = 181, 257) and oocl (p = 59 to 257).
FULL_FORWARD_BYTES = 4.0
FAST_FORWARD_BYTES = 2.05
STEP_BYTES = 1.75


@dataclasses.dataclass(frozen=True)
class MetricLoad:
    """What the metric families add to an evaluation: whether they cache hooks (the full forward runs),
    ``tables`` bytes held through the second pass (the excluded losses' shifted tables), ``temporaries`` bytes
    of their chunk-by-chunk work, and whether the pizza template fits run (chunked ``[rows, p]`` arrays)."""

    hooks: bool = False
    tables: int = 0
    temporaries: int = 0
    pizza: bool = False


def metric_load(config, shape: TableShape) -> MetricLoad:
    """The load of ``config``'s families that may apply on a table of ``shape``: on the whole table of pairs of
    ``n`` classes, the progress family (residues) or the rep family (a group) caches the hidden layer, holds
    two (progress) or four (rep: logits and hidden layer) float64 ``[R, n, n]`` tables, ``R <= n / 2 + 2``, and
    works on float64 blocks of at most :data:`~grokscope.metrics.class_sums.CHUNK_ELEMENTS` elements."""
    families = getattr(config.metrics, "families", {})
    n = shape.n_classes

    def on(name: str) -> bool:
        return name in families and families[name].enabled != "false"

    if shape.n_rows != n * n:
        return MetricLoad()
    residues = shape.modulus is not None
    n_tables = 2 if residues and on("progress") else 4 if on("rep") else 0
    chunk = min(shape.n_rows, evaluation.EVAL_CHUNK_ROWS)
    return MetricLoad(hooks=n_tables > 0, tables=n_tables * (n // 2 + 2) * n * n * 8,
                      temporaries=4 * min(CHUNK_ELEMENTS, chunk * n) * 8 if n_tables else 0,
                      pizza=residues and on("pizza"))


def run_bytes(shape: TableShape, model, loss_dtype: str, n_members: int = 1, batch_size: int | None = None,
              metrics: MetricLoad = MetricLoad(), chunk_rows: int | None = None) -> int:
    """Estimated peak bytes of a run of ``model`` (a model schema) on a table of ``shape``: ``batch_size`` rows
    per loss term per step (None: full batch), the families' ``metrics`` load, evaluation chunks of
    ``chunk_rows`` (default :data:`~grokscope.metrics.evaluation.EVAL_CHUNK_ROWS`)."""
    n_params, floats_per_row, n_logits = model.footprint(shape)
    loss = LOSS_BYTES[loss_dtype]
    rows = shape.n_rows
    n_train = rows if shape.n_train is None else shape.n_train
    # int64 tokens, labels and operands, boolean masks; per row the loss, the correctness and the scores' masks
    table = rows * ((shape.n_ctx + 3) * 8 + shape.n_masks) + rows * (loss + 1) * (shape.n_masks + 1)
    batch = n_train if batch_size is None else min(n_train, batch_size * shape.n_terms)
    gathered = batch * (shape.n_ctx + 1) * 8 if batch_size is None else 0
    weights = n_params * 4 * 4  # float32 parameters, gradients and two optimizer moments
    step = batch * (floats_per_row * STEP_BYTES + n_logits * (4 + 3 * loss))
    chunk = min(rows, chunk_rows or evaluation.EVAL_CHUNK_ROWS)
    forward = floats_per_row * (FULL_FORWARD_BYTES if metrics.hooks else FAST_FORWARD_BYTES) + n_logits * (4 + 2 * loss)
    first = chunk * forward + metrics.temporaries
    second = min(chunk, n_train) * forward + metrics.temporaries + metrics.tables if metrics.tables else 0
    pizza = chunk * (floats_per_row * FAST_FORWARD_BYTES + shape.n_classes * 8 * 4) if metrics.pizza else 0
    evaluate = n_params * 4 + max(first, second, pizza)  # one member's weights at a time
    return table + n_members * (weights + gathered) + max(n_members * step, evaluate)


def estimate_bytes(config, task=None) -> int:
    """:func:`run_bytes` of a validated ``config`` (its task schema, or ``task``)."""
    run = config.run
    task = config.task if task is None else task
    shape = task.table_shape(config)
    return run_bytes(shape, config.model, run.loss_dtype, run.ensemble.n_members, run.batch_size,
                     metric_load(config, shape))


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
