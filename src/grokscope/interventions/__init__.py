"""Interventions (``intervention=[freeze_embedding,perturb,...]``): one module per family, each acting on the
model through :class:`~grokscope.interventions.base.Intervention`'s hooks (circle_survival.md §4, §5).

Every selected option lives under its own key of the ``intervention`` node, so a list of options composes;
they act in the order selected (``construct`` then ``perturb``: the perturbation sees the constructed table).
"""

from __future__ import annotations

from grokscope.interventions import ablate, construct, freeze, noise, perturb  # noqa: F401 - register schemas
from grokscope.interventions.base import Intervention


def build_interventions(configs: dict, task, seeds) -> list[Intervention]:
    """The interventions of the validated ``configs`` (option name -> schema), checked against ``task``."""
    return [cfg.build(task, seeds, f"intervention.{name}") for name, cfg in configs.items()]


def apply_at_init(interventions: list[Intervention], model, task) -> None:
    for intervention in interventions:
        intervention.at_init(model, task)


__all__ = ["Intervention", "apply_at_init", "build_interventions"]
