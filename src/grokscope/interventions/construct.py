"""``intervention=construct``: the initial embedding built by hand from chosen frequencies
(circle_survival.md §5 "Manual construction")."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from einops import einsum

from grokscope.config import Checked, described, require
from grokscope.groups.fourier import fourier_basis, max_frequency
from grokscope.interventions.base import Intervention
from grokscope.interventions.frequencies import check_frequencies
from grokscope.interventions.targets import Target, require_cyclic


@dataclass
class ConstructConfig(Checked):
    """``freqs[i]`` gets signal ``amplitudes[i]``; every other frequency ``1..K`` gets ``tiny``; DC is 0.
    ``freqs: null`` draws ``len(amplitudes)`` distinct frequencies per ``seeds.embedding`` (the analysis'
    random pair per seed; circle_survival.md §8 bug 5)."""

    freqs: list[int] | None = described("the frequencies given the amplitudes, one each; null: drawn from "
                                        "seeds.embedding", allowed="1..(p-1)/2, or null")
    amplitudes: list[float] = described("the signal s_k of each constructed frequency", allowed="each > 0")
    tiny: float = described("the signal of every other frequency (DC: 0)", allowed=">= 0")

    def check(self, prefix: str) -> None:
        require(len(self.amplitudes) >= 1 and all(a > 0 for a in self.amplitudes), f"{prefix}.amplitudes",
                self.amplitudes, "must be a non-empty list of numbers > 0")
        require(self.freqs is None or len(self.freqs) == len(self.amplitudes), f"{prefix}.freqs", self.freqs,
                f"must be null or have one frequency per amplitude ({len(self.amplitudes)})")
        require(self.tiny >= 0, f"{prefix}.tiny", self.tiny, "must be >= 0")

    def build(self, task, seeds, prefix: str) -> Construct:
        require_cyclic(task, prefix, "construct")
        require(len(self.amplitudes) <= max_frequency(task.modulus), f"{prefix}.amplitudes", self.amplitudes,
                f"at most {max_frequency(task.modulus)} frequencies exist for p={task.modulus}")
        if self.freqs is not None:
            check_frequencies(f"{prefix}.freqs", self.freqs, task.modulus)
        return Construct(self, seeds.embedding)




def constructed_embedding(p: int, d: int, amplitude: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``E_t = (2/p) sum_k lambda_k u_k cos(2 pi k t / p)`` ``[p, d]`` for ``k = 1..K``, ``u_k`` uniform random unit
    vectors drawn in order of ``k``, ``amplitude[k - 1] = lambda_k``: ``F_k = F_{p-k} = lambda_k u_k``, so
    ``s_k(E) = lambda_k`` exactly. In the orthonormal basis the ``cos k`` coefficient is ``sqrt(2/p) lambda_k u_k``."""
    k_max = max_frequency(p)
    directions = torch.randn(k_max, d, generator=generator, dtype=torch.float64)
    directions = directions / directions.norm(dim=1, keepdim=True)  # [K, d]
    coeffs = torch.zeros(p, d, dtype=torch.float64)  # [basis row, d]
    coeffs[1 : 2 * k_max : 2] = math.sqrt(2 / p) * amplitude[:, None] * directions  # rows cos 1, cos 2, ...
    return einsum(fourier_basis(p, torch.float64), coeffs, "f x, f d -> x d")


class Construct(Intervention):
    def __init__(self, cfg: ConstructConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.freqs: list[int] = []

    def at_init(self, model, task) -> None:
        p, cfg = task.modulus, self.cfg
        generator = torch.Generator().manual_seed(self.seed)
        k_max = max_frequency(p)
        if cfg.freqs is None:
            self.freqs = (torch.randperm(k_max, generator=generator)[: len(cfg.amplitudes)] + 1).tolist()
        else:
            self.freqs = list(cfg.freqs)
        amplitude = torch.full((k_max,), cfg.tiny, dtype=torch.float64)
        amplitude[torch.tensor(self.freqs) - 1] = torch.tensor(cfg.amplitudes, dtype=torch.float64)
        target = Target.of(model, task, "W_E")
        n_tables, d = len(target.index), model.W_E.shape[1]
        target.write(model, torch.stack([constructed_embedding(p, d, amplitude, generator) for _ in range(n_tables)]))
