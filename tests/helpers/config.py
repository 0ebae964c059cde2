"""Compose real configs from the package's ``conf/`` as the command line would, and check config errors."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from grokscope.config import ConfigError
from grokscope.paths import CONF_DIR
from grokscope.run import build
from grokscope.run.config import validate


def make_config(*overrides: str):
    """The composed ``conf/train.yaml`` with ``overrides`` (as on the command line)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def assert_config_error(key: str, *overrides: str, build_too: bool = False) -> None:
    """Composing (and with ``build_too`` building) ``overrides`` fails with one line naming ``key``."""
    with pytest.raises(ConfigError) as err:
        config = validate(make_config(*overrides))
        if build_too:
            build(config)
    assert err.value.key == key and key in str(err.value) and "\n" not in str(err.value)
