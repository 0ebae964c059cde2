"""The metric families a run can use, and the choice of those that run.

The built-in families are listed here (:data:`BUILTIN`); a family from outside the package is added with
:func:`register_family` (then its config node ``metrics.<name>`` is accepted, e.g. ``+metrics.toy={enabled:
true}``). A node under ``metrics`` that names no registered family is refused in one line.
"""

from __future__ import annotations

import sys

from grokscope.metrics import circles, fourier, llc, pizza, progress, rep_theory, stability, weights
from grokscope.metrics.family import ActiveFamily, MetricFamily

BUILTIN: tuple[MetricFamily, ...] = (weights.FAMILY, fourier.FAMILY, rep_theory.FAMILY, progress.FAMILY,
                                     pizza.FAMILY, circles.FAMILY, stability.FAMILY, llc.FAMILY)
_REGISTERED: dict[str, MetricFamily] = {family.name: family for family in BUILTIN}


def register_family(family: MetricFamily) -> None:
    """Make ``family`` available to runs in this process (its name must be new, or name the same family)."""
    known = _REGISTERED.get(family.name)
    if known is not None and known is not family:
        raise ValueError(f"a metric family named {family.name!r} is already registered")
    _REGISTERED[family.name] = family


def registered() -> dict[str, MetricFamily]:
    """Name -> family, built-in first."""
    return dict(_REGISTERED)


def build_metrics(cfg, task, model, notes: bool = True, optimizer=None) -> list[ActiveFamily]:
    """The families of ``cfg`` (a :class:`~grokscope.metrics.config.MetricsConfig`) that run on ``task`` and
    ``model``: ``enabled=true``, or ``enabled=auto`` with ``metrics.auto`` and the family's auto rule, where
    the family applies (``optimizer``: the run's optimizer config, which an auto rule may read). A family asked
    for (``true``) that does not apply is named on stderr in one line (``notes``)."""
    active = []
    for name, family_cfg in cfg.families.items():
        family = _REGISTERED[name]
        wanted = family_cfg.enabled == "true" or (
            family_cfg.enabled == "auto" and cfg.auto and family.auto(task, model, optimizer))
        if not wanted:
            continue
        reason = family.applies(task, model)
        if reason is None:
            active.append(ActiveFamily(family, family_cfg, family.build(family_cfg, task, model)))
        elif family_cfg.enabled == "true" and notes:
            print(f"metrics.{name}.enabled=true: skipped, {reason}", file=sys.stderr)
    return active
