"""Weight norms (Nanda et al. 2023 §5.5): total and per parameter."""

from __future__ import annotations

import torch

from grokscope.config import MetricKey
from grokscope.metrics.family import FunctionMetric, MetricFamily, MetricFamilyConfig


def weight_norms(model: torch.nn.Module) -> dict[str, float]:
    """``weights/norm`` = sqrt(sum_theta ||theta||^2), ``weights/sum_sq`` = sum_theta ||theta||^2 over
    trainable parameters, and ``weights/norm/{param}`` per parameter."""
    names, params = zip(*[(n, p) for n, p in model.named_parameters() if p.requires_grad])
    sq = torch.stack([p.detach().pow(2).sum() for p in params]).tolist()
    out = {f"weights/norm/{n}": s**0.5 for n, s in zip(names, sq)}
    out["weights/sum_sq"] = sum(sq)
    out["weights/norm"] = sum(sq) ** 0.5
    return out


def _build(cfg: MetricFamilyConfig, task, model) -> FunctionMetric:
    return FunctionMetric(lambda model, task: weight_norms(model))


NANDA = "Nanda et al. 2023, §5.1 (weight norm)"
KEYS = (
    MetricKey("weights/norm", "L2 norm of all trainable parameters together",
              r"\sqrt{\textstyle\sum_\theta \lVert\theta\rVert_2^2}", NANDA),
    MetricKey("weights/sum_sq", "sum of squares of all trainable parameters (the paper's sum of squared weights)",
              r"\sum_\theta \lVert\theta\rVert_2^2", NANDA),
    MetricKey("weights/norm/{param}", "L2 norm of one trainable parameter, by its name in model.named_parameters()",
              r"\lVert\theta_{\text{param}}\rVert_2", NANDA),
)

#: ``metrics.weights``: ``enabled`` only.
FAMILY = MetricFamily("weights", MetricFamilyConfig, build=_build, keys=KEYS)
