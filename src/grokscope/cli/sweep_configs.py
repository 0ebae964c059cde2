"""The configs of a packed sweep's jobs, each composed once per batch (:class:`ComposedOnce`).

Hydra composes every job of a sweep three times: the sweeper, to check that it composes; the packed launcher, to
learn its run dir and config; the inner launcher, to run it. :class:`ComposedOnce` composes each once and hands
out copies. A cell of the same :func:`~grokscope.cli.packing.shape` as one it composed differs from that one only
in the values of packable keys: its config is derived from that one's (:func:`derive`) where the result is
provably the config Hydra would compose, else composed. A pack is always composed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from hydra._internal.config_loader_impl import get_overrides_dirname
from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType, ValueType
from hydra.errors import OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from grokscope.cli.packing import PACKABLE, shape


class ComposedOnce:
    """A Hydra config loader (``loader``) that keeps the sweep configs it composes until :meth:`forget` and hands
    out copies: a job composed again within a batch costs a copy. A cell of the shape of one it composed is
    derived from that one each time it is asked for (as costly as a copy; nothing more is kept per cell).
    Pickled (joblib, submitit) as ``loader`` alone."""

    def __init__(self, loader: ConfigLoader) -> None:
        self.loader = loader
        self.configs: dict[tuple, DictConfig] = {}
        self.bases: dict[tuple, tuple[DictConfig, list[str]]] = {}  # (master, shape) -> its first composed cell

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        """``loader.load_sweep_config``. It reads of ``master_config`` only its config name, Hydra overrides and
        resolver cache (the inner launcher's copy of the sweep's config differs only in ``hydra.launcher``)."""
        hydra_overrides = OmegaConf.to_container(master_config.hydra.overrides.hydra)  # as given: not resolved
        master = (master_config.hydra.job.config_name, tuple(hydra_overrides), repr(OmegaConf.get_cache(master_config)))
        key, group = (master, tuple(sweep_overrides)), (master, shape(sweep_overrides))
        if key in self.configs:
            return copy.deepcopy(self.configs[key])
        derived = derive(*self.bases[group], sweep_overrides) if group in self.bases else None
        if derived is not None:
            return derived
        config = self.configs[key] = self.loader.load_sweep_config(master_config, list(sweep_overrides))
        if group[1] is not None:
            self.bases.setdefault(group, (config, list(sweep_overrides)))
        return copy.deepcopy(config)

    def forget(self) -> None:
        """Drop the kept configs (a batch is launched: the next is composed afresh)."""
        self.configs.clear()
        self.bases.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def __reduce__(self) -> tuple:
        return plain, (self.loader,)


def plain(loader: ConfigLoader) -> ConfigLoader:
    """What a :class:`ComposedOnce` unpickles as: its loader."""
    return loader


def derive(config: DictConfig, overrides: Sequence[str], new: Sequence[str]) -> DictConfig | None:
    """The sweep config of the cell ``new`` from ``config``, the one Hydra composed for the cell ``overrides``
    (same master config), or None unless that is provably what Hydra composes: ``new`` is ``overrides`` but
    for other int or float values of :data:`~grokscope.cli.packing.PACKABLE` keys, set by plain ``key=value``
    overrides of keys that are not config groups and that no other override sets, deletes or reaches (a key
    above or below). Hydra applies such a value to the composed defaults as the last override of that key:
    setting it on ``config`` gives the same config; the task overrides and ``override_dirname`` follow."""
    parser = OverridesParser.create()
    try:
        old, parsed = parser.parse_overrides(list(overrides)), parser.parse_overrides(list(new))
    except OverrideParseException:
        return None  # composing it reports the error as Hydra does
    groups = config.hydra.runtime.choices  # every config group an override of a composed config selects
    if len(old) != len(parsed) or OmegaConf.to_container(config.hydra.overrides.task) != list(overrides):
        return None
    changed = [i for i, (a, b) in enumerate(zip(old, parsed)) if a.input_line != b.input_line]
    for i in changed:
        key = parsed[i].key_or_group
        if not (old[i].key_or_group == key and key in PACKABLE and key not in groups
                and plain_number(old[i]) and plain_number(parsed[i])):
            return None
        if any(reaches(o.key_or_group, key) and not selects_group(o, groups) for o in parsed[:i] + parsed[i + 1:]):
            return None
    derived = copy.deepcopy(config)
    try:
        for i in changed:
            OmegaConf.update(derived, parsed[i].key_or_group, parsed[i].value(), merge=True)
    except OmegaConfBaseException:
        return None
    for i in changed:
        derived.hydra.overrides.task[i] = parsed[i].input_line
    dirname = config.hydra.job.config.override_dirname
    derived.hydra.job.override_dirname = get_overrides_dirname(overrides=parsed, kv_sep=dirname.kv_sep,
                                                               item_sep=dirname.item_sep,
                                                               exclude_keys=dirname.exclude_keys)
    return derived


def plain_number(override: Override) -> bool:
    """Whether ``override`` is ``key=<int or float>`` (no ``+``, ``~``, ``@package`` or sweep)."""
    value = override.value() if override.value_type == ValueType.ELEMENT else None
    return (override.type == OverrideType.CHANGE and override.package is None
            and isinstance(value, int | float) and not isinstance(value, bool))


def selects_group(override: Override, groups: DictConfig) -> bool:
    """Whether ``override`` picks an option of one of ``groups`` (Hydra's defaults list), not a config value: a
    dict given to a group is a value."""
    return override.key_or_group in groups and not isinstance(override.value(), dict)


def reaches(a: str, b: str) -> bool:
    """Whether setting config key ``a`` sets or replaces ``b`` or the other way (equal, or one is above)."""
    return a == b or a.startswith(f"{b}.") or b.startswith(f"{a}.")
