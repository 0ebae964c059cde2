"""The config ``grokscope-train OVERRIDES`` would run, composed without running it (tests, notebooks)."""

from __future__ import annotations

from omegaconf import DictConfig

from grokscope.paths import CONF_DIR


def compose(overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=list(overrides))
