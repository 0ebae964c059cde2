"""Whether a run fits its device, decided from the config before any table is built.

A task schema gives the shape of its table (:class:`~grokscope.tasks.base.TableShape`), a model schema its
``footprint`` (parameter count, floats per row of a full forward, logits per row). The estimate adds the table
(int64 tokens and labels), the parameters with their gradients and two optimizer moments, and the evaluation
(:func:`~grokscope.metrics.evaluation.evaluate`): the float32 logits of every row, kept twice while the chunks
are joined, and one chunk's full forward (every hooked activation) with its logits in ``loss_dtype``; times the
ensemble members. It is compared with the device's total memory.
"""

from __future__ import annotations

import dataclasses
import os

from grokscope.config import ConfigError
from grokscope.metrics.evaluation import EVAL_CHUNK_ROWS
from grokscope.tasks.base import TableShape

#: Bytes per element of the loss dtypes.
LOSS_BYTES = {"float32": 4, "float64": 8}


def device_memory_bytes(device: str) -> int:
    """Total memory of ``device``: the first CUDA device for ``cuda`` (and ``auto`` when there is one), else
    the machine's physical memory."""
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def run_bytes(shape: TableShape, model, loss_dtype: str, n_members: int = 1) -> int:
    """Estimated peak bytes of a run of ``model`` (a model schema) on a table of ``shape``."""
    n_params, floats_per_row, n_logits = model.footprint(shape)
    table = shape.n_rows * (shape.n_ctx + 1) * 8 + shape.n_rows * 8  # tokens, labels; masks (bool) rounded up
    weights = n_params * 4 * 4  # float32 parameters, gradients and two optimizer moments
    chunk = min(shape.n_rows, EVAL_CHUNK_ROWS) * (floats_per_row * 4 + n_logits * LOSS_BYTES[loss_dtype] * 2)
    forward = shape.n_rows * n_logits * 4 * 2 + chunk
    return table + n_members * (weights + forward)


def _gb(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def require_fits(task, config, prefix: str) -> None:
    """Refuse ``task`` (a task schema with ``table_shape(config)``) when the run cannot fit the device; for a
    task sized by ``p``, name the largest ``p`` that fits."""
    run = config.run

    def need(schema) -> int:
        return run_bytes(schema.table_shape(config), config.model, run.loss_dtype, run.ensemble.n_members)

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
    raise ConfigError(key, value, f"the table, model and evaluation need about {_gb(need(task))}, more than the "
                      f"{_gb(have)} of device={run.device}{hint}")
