"""Spectral maths of functions on ``Z_p`` or on a finite group ``G``, held as tables ``[..., n, d]`` along the
element axis: Fourier power and signal per frequency, and the real filters that scale whole frequencies
(circle_survival.md §5, §6.1; nanda_progress_measures.md §4) or whole irreps (rep_theory.md: ``P_ρ = Q_ρ Q_ρᵀ``).
"""

from __future__ import annotations

import torch
from einops import einsum, rearrange, reduce

from grokscope.groups.basis import GroupBasis
from grokscope.groups.fourier import fourier_basis, frequency_of_row, max_frequency


def frequency_power(values: torch.Tensor, p: int) -> torch.Tensor:
    """Power per frequency of functions on ``Z_p``: ``values [..., p, d] -> [..., K + 1]``, ``K = max_frequency(p)``
    (nanda_progress_measures.md §4).

    With the orthonormal basis ``F`` (rows Const, cos 1, sin 1, ...), frequency ``k`` has power
    ``||(F v)_{cos k}||^2 + ||(F v)_{sin k}||^2`` and frequency 0 is ``||(F v)_Const||^2``; for odd ``p`` the
    powers sum to ``||v||^2`` (an even ``p``'s Nyquist row is left out).
    """
    basis = fourier_basis(p, values.dtype, values.device)
    per_row = reduce(einsum(basis, values, "f x, ... x d -> ... f d").pow(2), "... f d -> ... f", "sum")
    const, waves = per_row[..., :1], per_row[..., 1 : 2 * max_frequency(p) + 1]
    pairs = reduce(waves, "... (k two) -> ... k", "sum", two=2)
    return torch.cat([const, pairs], dim=-1)


def fourier_signal(values: torch.Tensor, p: int) -> torch.Tensor:
    """Signal ``s_k = ||F_k||`` of ``values [..., p, d] -> [..., K + 1]`` (circle_survival.md §6.1).

    ``F_k = sum_t v_t e^{-2 pi i k t / p}`` is the unnormalised DFT along the token axis; in the orthonormal
    basis ``||Re F_k||^2 + ||Im F_k||^2 = (p/2) P_k`` for ``k >= 1`` and ``||F_0||^2 = p P_0``, with ``P`` the
    :func:`frequency_power`. Hence ``sum_{k=0}^{p-1} s_k^2 = p ||v||_F^2`` (each ``k >= 1`` stands for ``+-k``).
    """
    power = frequency_power(values, p)
    scale = torch.full((power.shape[-1],), p / 2, dtype=power.dtype, device=power.device)
    scale[0] = p
    return (power * scale).sqrt()


def spectral_filter(basis: torch.Tensor, gain: torch.Tensor, dtype, device=None) -> torch.Tensor:
    """``G = Bᵀ diag(g) B [n, n]`` of an orthonormal basis ``B [f, n]`` (one component a row) and gains ``g [f]``."""
    return einsum(basis, gain, basis, "f x, f, f y -> x y").to(dtype=dtype, device=device)


def fourier_filter(p: int, gain: dict[int, float], default: float, dtype, device=None) -> torch.Tensor:
    """The real filter ``G = Fᵀ diag(g) F [p, p]`` multiplying every component of frequency ``k`` (``±k``,
    ``k = 0`` the DC) by ``g_k = gain.get(k, default)``; ``F`` the orthonormal :func:`fourier_basis`
    (circle_survival.md §5). ``G v`` equals ``Re IDFT(g * DFT(v))`` along the element axis."""
    g = torch.tensor([gain.get(int(k), default) for k in frequency_of_row(p)], dtype=torch.float64)
    return spectral_filter(fourier_basis(p, torch.float64), g, dtype, device)


def irrep_filter(basis: GroupBasis, gain: dict[str, float], default: float, dtype, device=None) -> torch.Tensor:
    """The real filter ``G = Σ_ρ g_ρ P_ρ = Q diag(g) Qᵀ [n, n]``, ``P_ρ = Q_ρ Q_ρᵀ`` the isotypic projector of
    irrep ``ρ`` (``Σ_ρ P_ρ = I``; rep_theory.md §6) and ``g_ρ = gain.get(name, default)``: ``G v`` keeps ``g_ρ``
    times the ``ρ``-component of ``v`` along the element axis."""
    gains = torch.tensor([gain.get(name, default) for name in basis.names], dtype=torch.float64)
    g = gains.repeat_interleave(basis.dims)  # [n]
    return spectral_filter(rearrange(basis.basis.cpu(), "x f -> f x"), g, dtype, device)


def apply_filter(filt: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``G v`` along the element axis: ``filt [n, n]``, ``values [..., n, d] -> [..., n, d]``."""
    return einsum(filt, values, "x y, ... y d -> ... x d")
