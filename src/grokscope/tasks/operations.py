"""Binary operations mod p under one spelling for every task, and the older spellings still accepted.

Names are the formulas (Power et al. 2022): ``add`` (x + y), ``sub``, ``mul``, ``div``, ``x2+y2``, ``x2+xy+y2``,
``x3+xy``. ``task=oocl`` once spelled ``add``, ``mul`` and ``x2+y2`` as ``sum``, ``prod`` and ``ssq`` (the OOCL
original's names): those aliases resolve to the names above, so an old command line still runs the same task.
"""

from __future__ import annotations

import torch

from grokscope.config import require


def _pow_mod(b: torch.Tensor, e: int, p: int) -> torch.Tensor:
    out = torch.ones_like(b)
    for _ in range(e):
        out = out * b % p
    return out


#: op name -> label function of integer tensors (a, b) and p.
OPS = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "div": lambda a, b, p: a * _pow_mod(b, p - 2, p) % p,  # Fermat: b^-1 = b^(p-2) mod p
    "x2+y2": lambda a, b, p: (a * a + b * b) % p,
    "x2+xy+y2": lambda a, b, p: (a * a + a * b + b * b) % p,
    "x3+xy": lambda a, b, p: (a * a * a + a * b) % p,
}

#: older spelling -> the name in :data:`OPS` it stands for.
ALIASES = {"sum": "add", "prod": "mul", "ssq": "x2+y2"}


def resolve_op(key: str, op: str, allowed: tuple[str, ...]) -> str:
    """The name of ``op`` (an alias resolved) if it is one of ``allowed``; else a one-line error naming ``key``
    and listing ``allowed`` with their aliases."""
    name = ALIASES.get(op, op)
    aliases = [f"{alias} ({name})" for alias, name in ALIASES.items() if name in allowed]
    require(name in allowed, key, op, f"must be one of {', '.join(allowed)} (older spellings: {', '.join(aliases)})")
    return name
