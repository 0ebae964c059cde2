"""Command-line mistakes that Hydra would report with a traceback, caught before Hydra runs.

:func:`check_launch` reads ``grokscope-train``'s arguments with Hydra's own parsers and raises
:class:`~grokscope.config.ConfigError` (key, value, what is allowed) for: more than one of the modes ``-m``,
``--cfg``, ``--info``, ``--shell-completion``; an option that is not in the package's config group; the Slurm
launcher without ``srun``; a joblib ``n_jobs`` of 0; a pack size below 1; a run or sweep directory that cannot
be written; a sweep of no values (``seed=range(0)``); an intervention listed twice. It
imports nothing heavy (Hydra's parsers only), so a mistake costs no torch import.
"""

from __future__ import annotations

import shutil

from grokscope.config import ConfigError, require, require_choice, require_writable_dir
from grokscope.paths import CONF_DIR

#: The modes of Hydra's command line, of which one at most may be given.
MODES = {"multirun": "-m", "cfg": "--cfg", "info": "--info", "shell_completion": "--shell-completion"}
#: Launchers that submit through Slurm's ``srun``.
SLURM_LAUNCHERS = ("slurm", "submitit_slurm")
#: Hydra's own launchers (from its plugins), besides the package's ``conf/hydra/launcher/``.
HYDRA_LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm")


class _Malformed(Exception):
    """A command line Hydra's parser refuses: Hydra reports it itself."""


def _raise_malformed(message: str):
    raise _Malformed(message)


def parse_command_line(argv: list[str]):
    """``(args, overrides)`` as Hydra's parsers read ``argv``, or None when they refuse it (Hydra then
    reports it itself)."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = get_args_parser()
    parser.error = _raise_malformed
    try:
        args = parser.parse_args(argv)
        return args, OverridesParser.create().parse_overrides(args.overrides)
    except (_Malformed, HydraException):
        return None


def sweep_dirname_override(argv: list[str]) -> list[str]:
    """For a multirun: the Hydra override that leaves the keys not swept out of the job dir names
    (``hydra.job.config.override_dirname.exclude_keys``), so that a job's dir is named by its swept values
    only and stays the same when the grid grows or is reordered. Nothing for a single run."""
    parsed = parse_command_line(argv)
    if parsed is None or not parsed[0].multirun:
        return []
    last = {o.key_or_group: o for o in parsed[1] if not o.is_hydra_override()}  # a later override wins
    fixed = [k for k, o in last.items() if not o.is_sweep_override()] if any(
        o.is_sweep_override() for o in last.values()) else []
    keys = ",".join(f"'{k}'" for k in ["experiment", *fixed])
    return [f"hydra.job.config.override_dirname.exclude_keys=[{keys}]"]


def check_launch(argv: list[str]) -> None:
    """Raise :class:`ConfigError` for a command line that Hydra would fail on with a traceback."""
    parsed = parse_command_line(argv)
    if parsed is None:
        return
    args, overrides = parsed
    modes = [name for name in MODES if getattr(args, name)]
    if len(modes) > 1:
        raise ConfigError(MODES[modes[1]], getattr(args, modes[1]), f"cannot be combined with {MODES[modes[0]]} "
                          f"(one of {', '.join(MODES.values())} at most)")
    values: dict[str, list] = {}
    for o in overrides:  # a group may be given twice: hydra/launcher=packed hydra/launcher@hydra.launcher.inner=joblib
        if not o.is_delete():
            values.setdefault(o.key_or_group, []).extend(_choices(o))
    if args.multirun:
        for o in overrides:
            require(_sweep_values(o) != [], o.key_or_group, o.input_line.split("=", 1)[-1] if o.input_line else None,
                    "a sweep must give at least one value (e.g. range(3), or 0,1,2)")
    for o in overrides:
        if o.key_or_group == "intervention" and not o.is_delete() and not o.is_sweep_override():
            options = _choices(o)
            twice = sorted({str(x) for x in options if options.count(x) > 1})
            require(not twice, "intervention", o.value(), f"lists {', '.join(twice)} twice: each option acts once "
                    "(give it once, with its settings under intervention.<name>.*)")
    searchpath = "hydra.searchpath" in values  # the user's own config folders may add options
    for group, choices in values.items():
        if not searchpath:
            _check_options(group, choices)
    launcher = values.get("hydra/launcher", [])
    slurm = [name for name in launcher if name in SLURM_LAUNCHERS]
    if args.multirun and slurm:
        require(shutil.which("srun") is not None, "hydra/launcher", slurm[0],
                "needs Slurm's srun on PATH (not found on this machine); use basic, joblib or submitit_local")
    for key in ("hydra.launcher.n_jobs", "hydra.launcher.inner.n_jobs"):  # joblib, alone or in a packed sweep
        for n_jobs in values.get(key, []):
            require(isinstance(n_jobs, int) and (n_jobs >= 1 or n_jobs == -1), key, n_jobs,
                    "must be an integer >= 1, or -1 for one job per CPU")
    for size in values.get("hydra.launcher.size", []) if "packed" in launcher else ():
        require(isinstance(size, int) and size >= 1, "hydra.launcher.size", size,
                "must be an integer >= 1 (members per pack at most)")
    info_only = args.cfg or args.info or args.shell_completion or args.help or args.hydra_help
    if not info_only:
        key = "hydra.sweep.dir" if args.multirun else "hydra.run.dir"
        for directory in values.get(key, ["."]):
            require_writable_dir(key, str(directory).split("${", 1)[0] or ".")


def _choices(override) -> list:
    """Every value an override gives: one, the elements of a list, or each choice of a sweep."""
    if override.is_sweep_override():
        try:
            return list(override.sweep_iterator())
        except (TypeError, ValueError):  # a glob or interval sweep: nothing to enumerate
            return []
    value = override.value()
    return list(value) if isinstance(value, list) else [value]


def _sweep_values(override) -> list | None:
    """The values of a sweep override (``seed=range(0)``: none); None when it is not a sweep or they cannot be
    listed (a glob, an interval)."""
    if not override.is_sweep_override():
        return None
    try:
        return list(override.sweep_iterator())
    except (TypeError, ValueError):
        return None


def _check_options(group: str, choices: list) -> None:
    """Each choice of a config group is one of its YAML files (plus Hydra's launchers for ``hydra/launcher``)."""
    folder = CONF_DIR / group
    if "." in group or not folder.is_dir() or (group.startswith("hydra/") and group != "hydra/launcher"):
        return
    options = sorted(p.stem for p in folder.glob("*.yaml"))
    if group == "hydra/launcher":
        options = sorted({*options, *HYDRA_LAUNCHERS})
    for choice in choices:
        if choice is not None:
            require_choice(group, choice, options)

