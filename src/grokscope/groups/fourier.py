"""Real orthonormal Fourier basis over ``Z_p`` (nanda_progress_measures.md §4).

Rows of ``F [p, p]``: ``f_0 = 1/√p``, ``f_{2k-1}(x) = √(2/p) cos(2πkx/p)``, ``f_{2k}(x) = √(2/p) sin(2πkx/p)``
for ``k = 1 … ⌈p/2⌉ - 1``; for even ``p`` a last (Nyquist) row ``cos(πx)/√p``. ``F`` is orthogonal, so
``v̂ = F v`` and ``Â = F A Fᵀ`` are the 1-D and 2-D transforms. These are the ``freq_k`` irreps of ``C_p``.
"""

from __future__ import annotations

import functools
import math
import numbers

import einops
import torch


def _check_p(p: int) -> int:
    if isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 1:
        raise ValueError(f"fourier basis: p must be a positive integer, got {p!r}")
    return int(p)


def max_frequency(p: int) -> int:
    """``K = ⌈p/2⌉ - 1 = (p - 1) // 2``: the frequencies ``1..K`` of the ``cos k``, ``sin k`` rows (each stands for
    the pair ``±k``, ``p - k ≡ -k``); an even ``p`` adds the Nyquist row ``cos p/2``, which is no frequency here."""
    return (_check_p(p) - 1) // 2


def fourier_basis(
    p: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Orthonormal basis ``F [p, p]`` (rows as in the module docstring), in ``dtype`` (default: torch's
    default dtype) on ``device`` (default CPU). Cached per ``(p, dtype, device)``: do not modify in place."""
    return _fourier_basis(_check_p(p), dtype or torch.get_default_dtype(), torch.device(device or "cpu"))


@functools.lru_cache(maxsize=64)
def _fourier_basis(p: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.arange(p, dtype=torch.int64)
    k = torch.arange(1, max_frequency(p) + 1, dtype=torch.int64)
    angles = 2 * math.pi * ((k[:, None] * x[None, :]) % p).double() / p  # [K, p], reduced mod p for accuracy
    waves = math.sqrt(2 / p) * torch.stack([angles.cos(), angles.sin()], dim=1)  # [K, 2, p]
    rows = [
        torch.full((1, p), 1 / math.sqrt(p), dtype=torch.float64),
        einops.rearrange(waves, "k wave x -> (k wave) x"),
    ]
    if p % 2 == 0:
        rows.append((1 - 2 * (x % 2)).double()[None, :] / math.sqrt(p))  # cos(πx)/√p
    return torch.cat(rows).to(dtype=dtype, device=device)


def frequency_of_row(p: int) -> torch.Tensor:
    """int64 ``[p]``: frequency ``k`` of each row of :func:`fourier_basis` (0 for Const)."""
    return torch.arange(1, _check_p(p) + 1, dtype=torch.int64).div(2, rounding_mode="floor")


def fourier_basis_names(p: int) -> tuple[str, ...]:
    """Row names ``Const, cos 1, sin 1, …`` (``cos p/2`` last for even ``p``)."""
    p = _check_p(p)
    waves = (f"{name} {k}" for k in range(1, max_frequency(p) + 1) for name in ("cos", "sin"))
    return ("Const", *waves, *((f"cos {p // 2}",) if p % 2 == 0 else ()))
