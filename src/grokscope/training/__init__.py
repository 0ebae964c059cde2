"""Lightning module, callbacks, loggers, optimizers and run outputs."""

from grokscope.training.lazy_torchmetrics import install as _defer_torchmetrics

_defer_torchmetrics()  # before Lightning loads: a run uses none of torchmetrics' metrics
