"""The local learning coefficient (LLC) of a network at its trained weights, estimated by SGLD (Lau, Furman, Wang,
Murfet, Wei 2023, "The Local Learning Coefficient: A Singularity-Aware Complexity Measure", §4; the estimator of
the ``devinterp`` library, which this module calls: the ``slt`` extra, ``pip install "grokscope[slt]"``).

With the training loss ``L_n`` (mean cross-entropy over the ``n`` training rows) and the weights ``w*`` of a
snapshot, the estimate is

    λ̂(w*) = nβ · (E_w[L_n(w)] - L_n(w*)),

the expectation over the localised, tempered posterior ``p(w) ∝ exp(-nβ L_n(w) - γ/2 ||w - w*||²)``, sampled by
SGLD chains started at ``w*``: ``Δw = -ε/2 (nβ ∇L_n(w) + γ (w - w*)) + N(0, ε)`` on minibatches. For a regular
model (a full-rank linear regression with d parameters) ``λ = d / 2``; a network that sheds structure (cleanup)
has a smaller LLC than one that memorises. The defaults (:class:`LLCConfig`): devinterp's ``nβ = b / log b``
for minibatches of ``b = 512`` rows, the step ``ε = 1e-3``, a mild localisation ``γ = 1`` (a strong one biases
the estimate down by ``nβ h / (nβ h + γ)`` along a direction of curvature ``h``), 8 chains of 100 burn-in steps
and 400 draws; with them a 10-parameter linear regression gives 5.0 (its LLC: 5). A network whose loss is much
sharper than that needs a smaller step (``--lr``) or diverges, which the estimate warns about.

A chain whose loss becomes non-finite or grows far above its start has diverged (the step is too large for the
curvature): the estimate is then not trustworthy, and :func:`estimate_llc` warns, as it does for a negative
estimate (the snapshot is not a local minimum of ``L_n``, or the chains did not mix).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

#: the install extra that brings devinterp
EXTRA = "slt"


class MissingExtra(RuntimeError):
    """Raised when the LLC is asked for without devinterp installed; its message is one line naming the extra."""


@dataclass(frozen=True)
class LLCConfig:
    """SGLD settings of the LLC estimate (Lau et al. 2023 §4; devinterp's defaults where it has them).

    ``lr``: the SGLD step size ε; ``localization``: γ, the pull towards the snapshot's weights; ``nbeta``: the
    inverse temperature nβ (null: ``b / log b`` for minibatches of ``b`` rows); ``batch_size``: rows per SGLD
    step (null or more than the rows: full batch); ``chains``, ``draws`` and ``burnin``: independent chains,
    the draws each contributes to the mean, and the steps each takes first without contributing; ``seed``: the
    chains' seeds are ``seed + chain``."""

    lr: float = 1e-3
    localization: float = 1.0
    nbeta: float | None = None
    batch_size: int | None = 512
    chains: int = 8
    draws: int = 400
    burnin: int = 100
    seed: int = 0


@dataclass(frozen=True)
class LLCEstimate:
    """``mean`` and ``std`` over the chains, each chain's LLC, the loss at the snapshot and the loss trace
    ``[chains, draws]``; ``warnings``: why the estimate may not be trusted (empty: none)."""

    mean: float
    std: float
    per_chain: list[float]
    init_loss: float
    loss_trace: np.ndarray
    nbeta: float
    warnings: tuple[str, ...] = ()


def devinterp():
    """devinterp's SGLD and its LLC estimator; :class:`MissingExtra` when the ``slt`` extra is not installed."""
    try:
        from devinterp.optim.sgld import SGLD
        from devinterp.slt.sampler import estimate_learning_coeff_with_summary
    except ImportError:
        raise MissingExtra(f"the LLC needs devinterp, which is not installed: pip install \"grokscope[{EXTRA}]\"") \
            from None
    return SGLD, estimate_learning_coeff_with_summary


def estimate_llc(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                 loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], cfg: LLCConfig = LLCConfig()
                 ) -> LLCEstimate:
    """The LLC of ``model`` at its current weights for the mean ``loss(model(inputs), targets)`` (see the module
    docstring), on the device of ``inputs``. The model's weights and the global random states are left as they
    were (the chains draw from their own seeds), so an estimate during training changes nothing of it."""
    sgld, estimate = devinterp()
    rows = len(inputs)
    batch = rows if cfg.batch_size is None else min(cfg.batch_size, rows)
    nbeta = cfg.nbeta if cfg.nbeta is not None else batch / math.log(batch)
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=batch, shuffle=True,
                        generator=torch.Generator().manual_seed(cfg.seed))

    def evaluate(net, data):
        x, y = data
        return loss(net(x), y), {}

    with torch.no_grad():
        init_loss = float(loss(model(inputs), targets))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[inputs.device] if inputs.is_cuda else []):
        warnings.filterwarnings("ignore", module="devinterp")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        result = estimate(model, loader, evaluate=evaluate, sampling_method=sgld,
                          optimizer_kwargs={"lr": cfg.lr, "localization": cfg.localization, "nbeta": nbeta},
                          num_chains=cfg.chains, num_draws=cfg.draws, num_burnin_steps=cfg.burnin, init_loss=init_loss,
                          seed=cfg.seed, device=str(inputs.device), verbose=False)
    model.load_state_dict(state)
    per_chain = [float(result[f"llc-chain/{i}"]) for i in range(cfg.chains)]
    trace = np.asarray(result["loss/trace"], dtype=float)
    return LLCEstimate(float(result["llc/mean"]), float(result["llc/std"]), per_chain, init_loss, trace, nbeta,
                       _trust(per_chain, trace))


#: a chain whose mean loss ends above this multiple of its first draws' (plus one nat) has diverged
DIVERGED = 10.0


def _trust(per_chain: list[float], trace: np.ndarray) -> tuple[str, ...]:
    """Why an estimate may not be trusted: diverged chains, a negative estimate."""
    found = []
    start, end = trace[:, : max(1, trace.shape[1] // 10)].mean(axis=1), trace[:, -max(1, trace.shape[1] // 10):]
    diverged = [i for i, row in enumerate(trace)
                if not np.isfinite(row).all() or end[i].mean() > DIVERGED * start[i] + 1.0]
    if diverged:
        found.append(f"SGLD chains {diverged} diverged (non-finite or exploding loss): lower llc.lr or raise "
                     "llc.localization")
    if any(value < 0 for value in per_chain):
        found.append("a negative LLC estimate (the snapshot is not a local minimum of the training loss, or the "
                     "chains did not mix): lengthen llc.burnin / llc.draws or lower llc.lr")
    return tuple(found)
