"""Choosing components: frequencies by number (``freqs``), irreps by name (``irreps``, ablation only) or either by
rank of the initial signal or power (``strongest``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from grokscope.config import Checked, described, require
from grokscope.groups.basis import GroupBasis, group_basis
from grokscope.groups.fourier import max_frequency
from grokscope.groups.spectral import fourier_signal
from grokscope.interventions.targets import require_cyclic


def check_frequencies(key: str, freqs: list[int], p: int) -> None:
    """Frequencies must be distinct integers in ``1..K`` (0 is the constant, ``dc``; ``p - k`` is ``k``)."""
    k_max = max_frequency(p)
    require(len(set(freqs)) == len(freqs) and all(1 <= k <= k_max for k in freqs), key, freqs,
            f"frequencies must be distinct integers in 1..{k_max} for p={p} (k stands for +-k; DC is 'dc')")


def check_irreps(key: str, irreps: list[str], names: tuple[str, ...]) -> None:
    """Irreps must be distinct names of non-trivial irreps (``names[1:]``; the trivial ``names[0]`` is ``dc``)."""
    require(len(set(irreps)) == len(irreps) and set(irreps) <= set(names[1:]), key, irreps,
            f"irreps must be distinct names among {', '.join(names[1:])} (the trivial irrep is 'dc')")


def ranked(power: torch.Tensor, n: int, key: str, what: str) -> list[int]:
    """Indices ``i >= 1`` of the ``n`` largest ``power[i]``, largest first (index 0, the constant, is ``dc``)."""
    require(n < len(power), key, n, f"at most {len(power) - 1} {what} exist")
    return [int(i) + 1 for i in torch.argsort(power[1:], descending=True, stable=True)[:n]]


def strongest(tables: torch.Tensor, n: int, key: str) -> list[int]:
    """The ``n`` frequencies ``k >= 1`` of largest signal of ``tables [n_tables, p, d]`` together,
    ``sqrt(sum_tables s_k^2)``, strongest first."""
    signal = fourier_signal(tables.detach(), tables.shape[1]).pow(2).sum(0).sqrt()  # [K + 1]
    return ranked(signal, n, key, "frequencies")


def strongest_irreps(tables: torch.Tensor, basis: GroupBasis, n: int, key: str) -> list[str]:
    """The ``n`` non-trivial irreps of largest power ``sum_tables ||Q_rho^T V||_F^2`` of ``tables [n_tables, |G|,
    d]``, strongest first."""
    power = sum(basis.irrep_power(t) for t in tables.detach().cpu())  # [R], trivial first
    return [basis.names[i] for i in ranked(power, n, key, "non-trivial irreps")]


@dataclass
class FrequencyChoice(Checked):
    """Exactly one of ``freqs: [k, ...]`` (``k`` in ``1..(p-1)/2``, each standing for ``+-k``) or
    ``strongest: n`` (the ``n`` frequencies of largest signal ``s_k`` when the intervention starts, so that a
    sweep can say "the strongest frequency" for every seed)."""

    freqs: list[int] | None = described("frequencies 1..(p-1)/2, each standing for +-k (set exactly one of freqs, "
                                        "strongest, irreps)")
    strongest: int | None = described("the n frequencies of largest signal s_k when the intervention acts "
                                      "(non-cyclic group: the n irreps of largest power)", allowed=">= 1, or null")

    #: the exclusive choices and what each holds.
    choices: ClassVar[dict[str, str]] = {"freqs": "a list", "strongest": "a count"}

    def check(self, prefix: str) -> None:
        chosen = [name for name in self.choices if getattr(self, name) is not None]
        key = chosen[0] if chosen else "freqs"  # the first one set names the clash; none set: freqs
        require(len(chosen) == 1, f"{prefix}.{key}", getattr(self, key),
                "set exactly one of " + ", ".join(f"{name} ({what})" for name, what in self.choices.items()))
        if self.strongest is not None:
            require(self.strongest >= 1, f"{prefix}.strongest", self.strongest, "must be an integer >= 1")

    def check_for(self, task, prefix: str, name: str) -> None:
        """``task`` must be cyclic and ``freqs`` in range for its ``p``."""
        p = require_cyclic(task, prefix, name)
        if self.freqs is not None:
            check_frequencies(f"{prefix}.freqs", self.freqs, p)

    def resolve(self, tables: torch.Tensor, prefix: str) -> list[int]:
        """The chosen frequencies; ``strongest`` ranks them on ``tables [n_tables, p, d]``."""
        if self.freqs is not None:
            return list(self.freqs)
        return strongest(tables, self.strongest, f"{prefix}.strongest")


@dataclass
class ComponentChoice(FrequencyChoice):
    """:class:`FrequencyChoice` or ``irreps: [name, ...]``: non-trivial irreps of ``task.group`` named as in
    ``group_basis(group).names`` (the ``rep/...`` metric keys; cyclic ``freq_k``). On a non-cyclic group task
    ``strongest: n`` picks the ``n`` non-trivial irreps of largest power ``sum_tables ||Q_rho^T V||_F^2``."""

    irreps: list[str] | None = described("group tasks: non-trivial irreps by name, as in the rep/... metric keys")

    choices: ClassVar[dict[str, str]] = {**FrequencyChoice.choices, "irreps": "irrep names"}

    def on_irreps(self, task) -> bool:
        """Whether the components are irreps of ``task.group`` (else Fourier frequencies of ``Z_p``)."""
        return self.irreps is not None or (self.strongest is not None and task.modulus is None)

    def check_for(self, task, prefix: str, name: str) -> None:
        """``freqs`` need a cyclic task; ``irreps`` (or ``strongest`` on a non-cyclic task) a group task whose
        irreps include every name."""
        if self.freqs is not None:
            require(task.modulus is not None, f"{prefix}.freqs", self.freqs,
                    f"frequencies need a cyclic task (task.modulus), not {task.name}; "
                    "set freqs=null and irreps (or strongest)")
        if not self.on_irreps(task):
            return super().check_for(task, prefix, name)
        field = "irreps" if self.irreps is not None else "strongest"
        require(task.group is not None, f"{prefix}.{field}", getattr(self, field),
                f"irreps need a group task (task.group), not {task.name}")
        if self.irreps is not None:
            check_irreps(f"{prefix}.irreps", self.irreps, group_basis(task.group).names)

    def resolve_irreps(self, tables: torch.Tensor, basis: GroupBasis, prefix: str) -> list[str]:
        """The chosen irreps; ``strongest`` ranks them on ``tables [n_tables, |G|, d]``."""
        if self.irreps is not None:
            return list(self.irreps)
        return strongest_irreps(tables, basis, self.strongest, f"{prefix}.strongest")
