"""``intervention=noise``: add Gaussian noise to a named parameter at a given epoch."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grokscope.config import Checked, described, require
from grokscope.interventions.base import Intervention


@dataclass
class NoiseConfig(Checked):
    """``param <- param + std * N(0, I)`` at the start of epoch ``at_epoch`` (0: before the first step), with
    noise drawn from a CPU generator seeded by ``seed``. ``param``: a name of ``model.named_parameters()``."""

    param: str = described("a name of model.named_parameters(), e.g. W_E")
    std: float = described("param += std N(0, I)", allowed="> 0")
    at_epoch: int = described("the epoch at whose start the noise is added (0: before the first step)", allowed=">= 0")
    seed: int = described("seed of the noise's CPU generator")

    def check(self, prefix: str) -> None:
        require(self.std > 0, f"{prefix}.std", self.std, "must be > 0")
        require(self.at_epoch >= 0, f"{prefix}.at_epoch", self.at_epoch, "must be an integer >= 0")

    def build(self, task, seeds, prefix: str) -> Noise:
        return Noise(self, prefix)




class Noise(Intervention):
    def __init__(self, cfg: NoiseConfig, prefix: str):
        self.cfg, self.prefix = cfg, prefix
        self.epochs = frozenset({cfg.at_epoch})

    def at_init(self, model, task) -> None:
        names = dict(model.named_parameters())
        require(self.cfg.param in names, f"{self.prefix}.param", self.cfg.param,
                f"must be one of {', '.join(names)}")

    @torch.no_grad()
    def at_epoch(self, model, epoch: int) -> None:
        if epoch != self.cfg.at_epoch:
            return
        param = dict(model.named_parameters())[self.cfg.param]
        generator = torch.Generator().manual_seed(self.cfg.seed)
        noise = torch.randn(param.shape, generator=generator, dtype=param.dtype)
        param.add_(noise.to(param.device), alpha=self.cfg.std)
