"""Functions on Z_p held inside a model's parameters, and Fourier filters acting on them
(circle_survival.md §5: the DFT along the token axis, always real)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import einsum, rearrange

from grokscope.config import ConfigError, require
from grokscope.groups.fourier import fourier_basis, frequency_of_row
from grokscope.metrics.fourier import fourier_signal

TARGETS = ("W_E", "W_U")


@dataclass
class Table:
    """A ``[p, d]`` view of ``param``: the rows ``start..start+p`` of ``W_E`` (one operand's embedding) or the
    columns ``0..p`` of ``W_U`` (the unembedding of the answers), read and written in place."""

    param: torch.nn.Parameter
    start: int
    p: int
    columns: bool

    def read(self) -> torch.Tensor:
        if self.columns:
            return rearrange(self.param[:, self.start : self.start + self.p], "d x -> x d")
        return self.param[self.start : self.start + self.p]

    @torch.no_grad()
    def write(self, value: torch.Tensor) -> None:
        if self.columns:
            self.param[:, self.start : self.start + self.p].copy_(rearrange(value, "x d -> d x"))
        else:
            self.param[self.start : self.start + self.p].copy_(value)


def require_cyclic(task, key: str, value) -> int:
    """``task.modulus``, or a one-line error naming ``key`` for a task whose operands are not residues."""
    require(task.modulus is not None, key, value, f"needs a cyclic task (task.modulus), not {task.name}")
    return task.modulus


def tables(model, task, target: str, key: str) -> list[Table]:
    """The distinct tables of ``target`` on ``task``'s residues: one per operand table of ``W_E`` (operands that
    share rows count once), or the answers' columns of ``W_U``. Needs a cyclic task (``task.modulus``)."""
    p = require_cyclic(task, key, target)
    if target == "W_U":
        return [Table(model.W_U, 0, p, columns=True)]
    rows = model.operand_rows(task.operand_tokens)  # [n_operands, p]
    starts = sorted({int(r[0]) for r in rows})
    for r in rows:
        if not torch.equal(r, torch.arange(int(r[0]), int(r[0]) + p)):
            raise ConfigError(key, target, "the operand rows of W_E must be consecutive residues 0..p-1")
    return [Table(model.W_E, s, p, columns=False) for s in starts]


def signal(tabs: list[Table]) -> torch.Tensor:
    """``s_k`` ``[K + 1]`` of the tables together: ``sqrt(sum_tables s_k^2)`` (one table: its own ``s_k``)."""
    return torch.stack([fourier_signal(t.read().detach(), t.p) for t in tabs]).pow(2).sum(0).sqrt()


def max_frequency(p: int) -> int:
    """``K = (p-1)/2`` rounded down: frequencies ``1..K`` each stand for the pair ``+-k`` (``p - k == -k``)."""
    return (p - 1) // 2


def check_frequencies(key: str, freqs: list[int], p: int) -> None:
    """Frequencies must be distinct integers in ``1..K`` (0 is the constant, ``dc``; ``p - k`` is ``k``)."""
    k_max = max_frequency(p)
    require(len(set(freqs)) == len(freqs) and all(1 <= k <= k_max for k in freqs), key, freqs,
            f"frequencies must be distinct integers in 1..{k_max} for p={p} (k stands for +-k; DC is 'dc')")


def strongest(tabs: list[Table], n: int, key: str) -> list[int]:
    """The ``n`` frequencies ``k >= 1`` of largest signal, strongest first."""
    s = signal(tabs)[1:]
    require(n <= len(s), key, n, f"at most {len(s)} frequencies exist")
    return [int(k) + 1 for k in torch.argsort(s, descending=True, stable=True)[:n]]


def fourier_filter(p: int, gain: dict[int, float], default: float, dtype, device=None) -> torch.Tensor:
    """The real filter ``G = F^T diag(g) F [p, p]`` multiplying every component of frequency ``k`` (``+-k``,
    ``k = 0`` the DC) by ``g_k = gain.get(k, default)``; ``F`` the orthonormal basis (groups/fourier.py).
    ``G v`` equals ``Re IDFT(g * DFT(v))`` along the token axis."""
    basis = fourier_basis(p, torch.float64)
    g = torch.tensor([gain.get(int(k), default) for k in frequency_of_row(p)], dtype=torch.float64)
    filt = einsum(basis, g, basis, "f x, f, f y -> x y")
    return filt.to(dtype=dtype, device=device)


def apply_filter(filt: torch.Tensor, tabs: list[Table]) -> None:
    """``v <- G v`` for every table (in place, on the parameters' device)."""
    for t in tabs:
        t.write(einsum(filt, t.read(), "x y, y d -> x d"))
