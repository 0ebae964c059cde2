"""``metrics.llc``: the local learning coefficient during training, at each metric epoch (off by default; the
``slt`` extra). The estimator and its formula: :mod:`grokscope.metrics.llc_estimator` (Lau et al. 2023 §4, with
devinterp); ``grokscope-analyze llc RUN_DIR`` estimates it after training over a run's snapshots instead.

An estimate costs ``chains x (burnin + draws)`` SGLD steps on minibatches of ``batch_size`` training rows: the
defaults here (2 chains of 50 + 100 steps of 512 rows, about 300 forward and backward passes of 512 rows) cost
about as much as training a small model for as many epochs on a table of that size; raise them (or
``metrics.every_n_epochs``) to taste. The loss is the run's (``loss.kind`` in ``loss_dtype``) over the rows of
every loss term of weight > 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grokscope.config import ConfigError, MetricKey, described, require
from grokscope.figures import figure, points
from grokscope.metrics.family import MetricFamily, MetricFamilyConfig, RunRecord
from grokscope.metrics.llc_estimator import LLCConfig, MissingExtra, devinterp, estimate_llc
from grokscope.metrics.phases import draw_phases, phases_of, run_phases


@dataclass
class LLCFamilyConfig(MetricFamilyConfig):
    """``metrics.llc``: SGLD settings of the estimate at each metric epoch (:class:`LLCConfig` for their meaning)."""

    lr: float = described("the SGLD step size", allowed="> 0")
    localization: float = described("gamma, the pull towards the current weights", allowed=">= 0")
    nbeta: float | None = described("the inverse temperature n beta (null: b / log b for minibatches of b rows)",
                                    allowed="> 0, or null")
    batch_size: int = described("rows per SGLD step", allowed=">= 2")
    chains: int = described("independent SGLD chains", allowed=">= 1")
    draws: int = described("draws per chain that enter the mean", allowed=">= 1")
    burnin: int = described("steps per chain before the draws", allowed=">= 0")

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require(self.lr > 0, f"{prefix}.lr", self.lr, "must be > 0")
        require(self.localization >= 0, f"{prefix}.localization", self.localization, "must be >= 0")
        require(self.nbeta is None or self.nbeta > 0, f"{prefix}.nbeta", self.nbeta, "must be > 0 or null")
        require(self.batch_size >= 2, f"{prefix}.batch_size", self.batch_size, "must be an integer >= 2")
        for key in ("chains", "draws"):
            require(getattr(self, key) >= 1, f"{prefix}.{key}", getattr(self, key), "must be an integer >= 1")
        require(self.burnin >= 0, f"{prefix}.burnin", self.burnin, "must be an integer >= 0")
        if self.enabled == "true":
            try:
                devinterp()
            except MissingExtra as err:
                raise ConfigError(f"{prefix}.enabled", "true", str(err)) from None

    def estimator(self) -> LLCConfig:
        return LLCConfig(self.lr, self.localization, self.nbeta, self.batch_size, self.chains, self.draws,
                         self.burnin)


@dataclass
class LLCMetric:
    """``llc/mean`` and ``llc/std`` (over the chains) of the model at the current epoch."""

    cfg: LLCConfig
    hooks: tuple[str, ...] = ()
    needs_rows = False

    def __call__(self, model, task, ev) -> dict[str, float]:
        rows = torch.zeros(len(task.labels), dtype=torch.bool, device=task.labels.device)
        for term in task.loss_terms:
            if term.weight > 0:
                rows |= task.masks[term.mask]
        estimate = estimate_llc(model, task.tokens[rows], task.labels[rows], ev.loss, self.cfg)
        return {"llc/mean": estimate.mean, "llc/std": estimate.std}


def _build(cfg: LLCFamilyConfig, task, model) -> LLCMetric:
    return LLCMetric(cfg.estimator())


def _plots(record: RunRecord):
    """``plots/llc.png``: the LLC (mean ± std over the chains) over epochs, the train and test loss beside it on
    a second axis, the phases shaded."""
    if not record.logged("llc/mean"):
        return
    epochs, mean = record.series("llc/mean")
    std = record.series("llc/std")[1]
    fig, ax = figure((9, 4.5))
    ax.plot(epochs, mean, color="black", label="LLC", **points(len(epochs)))
    ax.fill_between(epochs, mean - std, mean + std, color="black", alpha=0.15, lw=0)
    ax.set(xscale="log", xlabel="epoch + 1", ylabel="local learning coefficient", title="LLC over training")
    losses = ax.twinx()
    for key in ("train/loss", "test/loss"):
        if record.logged(key):
            losses.plot(*record.series(key), label=key, alpha=0.6)
    losses.set(yscale="log", ylabel="loss")
    if record.logged("test/loss"):
        draw_phases(ax, phases_of(run_phases(record)["phases"]))
    ax.grid(alpha=0.3)
    fig.legend(loc="upper right", fontsize="small")
    yield "llc", fig


SOURCE = "Lau et al. 2023, §4 (devinterp's SGLD estimator)"
KEYS = (
    MetricKey("llc/mean", "the local learning coefficient at the epoch's weights, mean over the SGLD chains",
              r"\hat\lambda(w^*) = n\beta\,(\mathbb E_w[L_n(w)] - L_n(w^*))", SOURCE, "plots/llc.png"),
    MetricKey("llc/std", "its standard deviation over the chains", "", SOURCE, "plots/llc.png"),
)

#: ``metrics.llc``: off by default (enabled: false); an optional extra.
FAMILY = MetricFamily("llc", LLCFamilyConfig, build=_build, plots=_plots, keys=KEYS)
