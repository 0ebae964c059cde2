"""``metrics=default|none``: the metric cadence and one node per metric family (``metrics.<family>``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from grokscope.config import NAME_MEANING, Checked, described, require, structured, typed
from grokscope.metrics.families import registered
from grokscope.metrics.fit import require_fits


@dataclass
class MetricsConfig(Checked):
    """Metric epochs are ``0, every_n_epochs, 2 every_n_epochs, ...`` (``0``: none), ``log_points``
    log-spaced epochs (0 for none), every epoch up to ``dense_epochs`` (the initial-gradient analysis needs the
    first epochs, circle_survival.md §6.5) and the last epoch. ``auto``: whether families with
    ``enabled: auto`` run (where they apply); ``metrics=none`` turns it off. ``families``: family name -> its
    typed node (every node under ``metrics`` other than these keys)."""

    name: str = described(NAME_MEANING)
    every_n_epochs: int = described("metric epochs 0, n, 2n, ... (0: none but the last)", allowed=">= 0")
    log_points: int = described("also this many log-spaced epochs (0: none)", allowed=">= 0")
    dense_epochs: int = described("also every epoch up to this one (0: none)", allowed=">= 0")
    auto: bool = described("families with enabled: auto run where they apply (metrics=none: false)")
    families: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_node(cls, node: DictConfig, prefix: str) -> MetricsConfig:
        own = {f.name for f in dataclasses.fields(cls)} - {"families"}
        families = registered()
        for key, value in node.items():
            if key in own:
                continue
            allowed = f"not a key of {prefix}: metric families are {', '.join(families)}; other keys: " \
                      f"{', '.join(sorted(own))}"
            require(key in families, f"{prefix}.{key}", value, allowed)
            require(isinstance(value, DictConfig), f"{prefix}.{key}", value,
                    f"is the node of metric family {key}: set {prefix}.{key}.enabled=true|false|auto")
        config = structured(cls, OmegaConf.create({k: v for k, v in node.items() if k in own}), prefix)
        config.families = {key: typed(families[key].schema, value, f"{prefix}.{key}")
                           for key, value in node.items() if key not in own}
        return config

    def __getattr__(self, name: str):
        """A family's node as an attribute: ``config.metrics.fourier.top_k``."""
        families = self.__dict__.get("families", {})
        if name in families:
            return families[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or metric family {name!r}")

    def check(self, prefix: str) -> None:
        for key in ("every_n_epochs", "log_points", "dense_epochs"):
            require(getattr(self, key) >= 0, f"{prefix}.{key}", getattr(self, key), "must be >= 0")

    def check_against(self, config, prefix: str) -> None:
        """The run fits its device (:mod:`.fit`); each family's node against the whole config."""
        require_fits(config.task, config, "task")
        for name, family_cfg in self.families.items():
            family_cfg.check_against(config, f"{prefix}.{name}")


#: ``metrics=<name>`` -> its schema
SCHEMAS = {"default": MetricsConfig, "none": MetricsConfig}

__all__ = ["SCHEMAS", "MetricsConfig"]
