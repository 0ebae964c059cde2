"""Interventions (``intervention=[freeze_embedding,perturb,...]``): one module per family, each acting on the
model through :class:`~grokscope.interventions.base.Intervention`'s hooks (circle_survival.md §4, §5).

Every selected option lives under its own key of the ``intervention`` node, so a list of options composes;
they act in the order selected (``construct`` then ``perturb``: the perturbation sees the constructed table).
"""

from __future__ import annotations

from grokscope.interventions import ablate, construct, freeze, noise, perturb
from grokscope.interventions.base import Intervention

#: ``intervention=<name>`` -> its schema
SCHEMAS = {"freeze_embedding": freeze.FreezeEmbeddingConfig, "construct": construct.ConstructConfig,
           "ablate": ablate.AblateConfig, "perturb": perturb.PerturbConfig, "noise": noise.NoiseConfig}


def build_interventions(configs: dict, task, seeds) -> list[Intervention]:
    """The interventions of the validated ``configs`` (option name -> schema), checked against ``task``."""
    return [cfg.build(task, seeds, f"intervention.{name}") for name, cfg in configs.items()]


def apply_at_init(interventions: list[Intervention], model, task) -> None:
    for intervention in interventions:
        intervention.at_init(model, task)


__all__ = ["SCHEMAS", "Intervention", "apply_at_init", "build_interventions"]
