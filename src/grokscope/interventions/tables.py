"""Functions on Z_p or on a finite group G held inside a model's parameters, and the real filters acting on them
along the element axis: Fourier filters on Z_p (circle_survival.md §5) and isotypic filters on G
(rep_theory.md: ``P_rho = Q_rho Q_rho^T``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import einsum, rearrange

from grokscope.config import ConfigError, require
from grokscope.groups.fourier import fourier_basis, frequency_of_row
from grokscope.metrics.fourier import fourier_signal
from grokscope.metrics.group_basis import GroupBasis

TARGETS = ("W_E", "W_U")


@dataclass
class Table:
    """A ``[n, d]`` view of ``param`` over the ``n`` elements (residues ``0..p-1`` or group elements in order):
    the rows ``start..start+n`` of ``W_E`` (one operand's embedding) or the columns ``0..n`` of ``W_U`` (the
    unembedding of the answers), read and written in place."""

    param: torch.nn.Parameter
    start: int
    n: int
    columns: bool

    def read(self) -> torch.Tensor:
        if self.columns:
            return rearrange(self.param[:, self.start : self.start + self.n], "d x -> x d")
        return self.param[self.start : self.start + self.n]

    @torch.no_grad()
    def write(self, value: torch.Tensor) -> None:
        if self.columns:
            self.param[:, self.start : self.start + self.n].copy_(rearrange(value, "x d -> d x"))
        else:
            self.param[self.start : self.start + self.n].copy_(value)


def require_cyclic(task, key: str, value) -> int:
    """``task.modulus``, or a one-line error naming ``key`` for a task whose operands are not residues."""
    require(task.modulus is not None, key, value, f"needs a cyclic task (task.modulus), not {task.name}")
    return task.modulus


def n_elements(task, key: str, value) -> int:
    """``p`` of a cyclic task or ``|G|`` of a group task (``task.group``), else a one-line error naming ``key``."""
    n = task.modulus if task.modulus is not None else getattr(task.group, "order", None)
    require(n is not None, key, value, f"needs a cyclic or group task (task.modulus or task.group), not {task.name}")
    return n


def tables(model, task, target: str, key: str) -> list[Table]:
    """The distinct tables of ``target`` on ``task``'s elements (residues, or group elements in order): one per
    operand table of ``W_E`` (operands that share rows count once), or the answers' columns of ``W_U``."""
    n = n_elements(task, key, target)
    if target == "W_U":
        return [Table(model.W_U, 0, n, columns=True)]
    rows = model.operand_rows(task.operand_tokens)  # [n_operands, n]
    starts = sorted({int(r[0]) for r in rows})
    for r in rows:
        if not torch.equal(r, torch.arange(int(r[0]), int(r[0]) + n)):
            raise ConfigError(key, target, f"the operand rows of W_E must be consecutive elements 0..{n - 1}")
    return [Table(model.W_E, s, n, columns=False) for s in starts]


def signal(tabs: list[Table]) -> torch.Tensor:
    """``s_k`` ``[K + 1]`` of the tables together: ``sqrt(sum_tables s_k^2)`` (one table: its own ``s_k``)."""
    return torch.stack([fourier_signal(t.read().detach(), t.n) for t in tabs]).pow(2).sum(0).sqrt()


def irrep_power(tabs: list[Table], basis: GroupBasis) -> torch.Tensor:
    """``[R]``: ``sum_tables ||Q_rho^T V||_F^2`` (:meth:`GroupBasis.irrep_power`), trivial irrep first."""
    return sum(basis.irrep_power(t.read().detach().cpu()) for t in tabs)


def max_frequency(p: int) -> int:
    """``K = (p-1)/2`` rounded down: frequencies ``1..K`` each stand for the pair ``+-k`` (``p - k == -k``)."""
    return (p - 1) // 2


def check_frequencies(key: str, freqs: list[int], p: int) -> None:
    """Frequencies must be distinct integers in ``1..K`` (0 is the constant, ``dc``; ``p - k`` is ``k``)."""
    k_max = max_frequency(p)
    require(len(set(freqs)) == len(freqs) and all(1 <= k <= k_max for k in freqs), key, freqs,
            f"frequencies must be distinct integers in 1..{k_max} for p={p} (k stands for +-k; DC is 'dc')")


def ranked(power: torch.Tensor, n: int, key: str, what: str) -> list[int]:
    """Indices ``i >= 1`` of the ``n`` largest ``power[i]``, largest first (index 0, the constant, is ``dc``)."""
    require(n < len(power), key, n, f"at most {len(power) - 1} {what} exist")
    return [int(i) + 1 for i in torch.argsort(power[1:], descending=True, stable=True)[:n]]


def strongest(tabs: list[Table], n: int, key: str) -> list[int]:
    """The ``n`` frequencies ``k >= 1`` of largest signal, strongest first."""
    return ranked(signal(tabs), n, key, "frequencies")


def strongest_irreps(tabs: list[Table], basis: GroupBasis, n: int, key: str) -> list[str]:
    """The ``n`` non-trivial irreps of largest :func:`irrep_power`, strongest first."""
    return [basis.names[i] for i in ranked(irrep_power(tabs, basis), n, key, "non-trivial irreps")]


def check_irreps(key: str, irreps: list[str], names: tuple[str, ...]) -> None:
    """Irreps must be distinct names of non-trivial irreps (``names[1:]``; the trivial ``names[0]`` is ``dc``)."""
    require(len(set(irreps)) == len(irreps) and set(irreps) <= set(names[1:]), key, irreps,
            f"irreps must be distinct names among {', '.join(names[1:])} (the trivial irrep is 'dc')")


def spectral_filter(basis: torch.Tensor, g: torch.Tensor, dtype, device=None) -> torch.Tensor:
    """``G = B^T diag(g) B [n, n]`` of an orthonormal basis ``B [f, n]`` (one component a row) and gains ``g [f]``."""
    return einsum(basis, g, basis, "f x, f, f y -> x y").to(dtype=dtype, device=device)


def fourier_filter(p: int, gain: dict[int, float], default: float, dtype, device=None) -> torch.Tensor:
    """The real filter ``G = F^T diag(g) F [p, p]`` multiplying every component of frequency ``k`` (``+-k``,
    ``k = 0`` the DC) by ``g_k = gain.get(k, default)``; ``F`` the orthonormal basis (groups/fourier.py).
    ``G v`` equals ``Re IDFT(g * DFT(v))`` along the token axis."""
    g = torch.tensor([gain.get(int(k), default) for k in frequency_of_row(p)], dtype=torch.float64)
    return spectral_filter(fourier_basis(p, torch.float64), g, dtype, device)


def irrep_filter(basis: GroupBasis, gain: dict[str, float], default: float, dtype, device=None) -> torch.Tensor:
    """The real filter ``G = sum_rho g_rho P_rho = Q diag(g) Q^T [n, n]``, ``P_rho = Q_rho Q_rho^T`` the isotypic
    projector of irrep ``rho`` (``sum_rho P_rho = I``) and ``g_rho = gain.get(name, default)``: ``G v`` keeps
    ``g_rho`` times the ``rho``-component of ``v`` along the element axis."""
    gains = torch.tensor([gain.get(name, default) for name in basis.names], dtype=torch.float64)
    g = gains.repeat_interleave(torch.tensor([cols.stop - cols.start for cols in basis.slices]))  # [n]
    return spectral_filter(rearrange(basis.basis.cpu(), "x f -> f x"), g, dtype, device)


def apply_filter(filt: torch.Tensor, tabs: list[Table]) -> None:
    """``v <- G v`` for every table (in place, on the parameters' device)."""
    for t in tabs:
        t.write(einsum(filt, t.read(), "x y, y d -> x d"))
