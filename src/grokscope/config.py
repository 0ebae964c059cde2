"""Typed run configuration: structured schemas per config group, and semantic checks with one-line errors.

Hydra composes ``src/grokscope/conf/`` into a DictConfig. :func:`validate` turns it into typed dataclasses:
each group node (``task``, ``model``, ``optimizer``...) carries a ``name`` that selects its schema from the
``schemas`` it is given (each package lists its own; :mod:`grokscope.run.config` collects them); merging the
node into the schema checks types and unknown keys, and the schema's ``check()`` checks meaning. Schemas have
no defaults: the YAML files are the single source of truth. Every schema field is declared with :func:`described`:
its one-line meaning and the values it takes, which the config reference (``docs/reference/config.md``) and
``grokscope-train --help`` print; :class:`MetricKey` declares what a run logs, for the metric reference
(``docs/reference/metrics.md``). This module imports nothing of grokscope.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A user mistake in the configuration; the message names the key, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r}: {allowed}")


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise :class:`ConfigError` for ``key`` unless ``ok``."""
    if not ok:
        raise ConfigError(key, value, allowed)


def require_choice(key: str, value: Any, choices) -> None:
    require(value in choices, key, value, f"must be one of {', '.join(map(str, choices))}")


def require_writable_dir(key: str, path: str | os.PathLike) -> None:
    """``path`` is a directory that can be written, or created: its nearest existing ancestor is a writable
    directory (on a file system mounted read-write)."""
    path = Path(path).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    require(existing.is_dir(), key, str(path), f"must be a directory that can be created; {existing} is a file")
    writable = os.access(existing, os.W_OK | os.X_OK) and not os.statvfs(existing).f_flag & os.ST_RDONLY
    require(writable and _can_create_in(existing), key, str(path),
            f"must be a writable directory; {existing} is not writable")


def _can_create_in(directory: Path) -> bool:
    """Whether a directory can be made in ``directory`` (tried, and removed at once: permission bits do not say it
    for root, nor for /proc-like file systems)."""
    try:
        os.rmdir(tempfile.mkdtemp(dir=directory, prefix=".grokscope-probe-"))
    except OSError:
        return False
    return True


def described(meaning: str, *, choices: Iterable | None = None, allowed: str = "", default: Any = MISSING,
              factory: Any = MISSING) -> Any:
    """A schema field with its one-line ``meaning`` and the values it takes: ``choices`` (the very tuple its
    ``check`` validates against) or ``allowed`` (a range, in words). ``default`` (or ``factory``, for a node) only
    for keys a run dir recorded before they existed may lack (the YAML holds every default); such a field is
    keyword-only, so a schema's subclasses may add required fields after it."""
    metadata = {"meaning": meaning, "choices": None if choices is None else tuple(choices), "allowed": allowed}
    if default is MISSING and factory is MISSING:
        return field(metadata=metadata)
    return field(default=default, default_factory=factory, metadata=metadata, kw_only=True)


#: The meaning of every group option's ``name`` key: the schema is chosen by it (``SCHEMAS[group][name]``).
NAME_MEANING = "selects the schema this node is checked against (set by the option file)"


@dataclass(frozen=True)
class MetricKey:
    """One key a run logs, or a key pattern (``progress/excluded_loss/freq_{k}``: each ``{...}`` stands for one
    path segment or part of one), declared next to the code that computes it.

    ``kind``: ``scalar`` (a column of ``metrics.csv``), ``array`` (stacked over metric epochs in
    ``arrays/<namespace>.npz``) or ``summary`` (a field of ``summary.json``). ``formula`` is LaTeX math (what
    the value is), ``source`` the paper and section it comes from, ``plot`` the file under ``plots/`` that shows
    it (empty: none)."""

    name: str
    meaning: str
    formula: str = ""
    source: str = ""
    plot: str = ""
    kind: str = "scalar"

    KINDS = ("scalar", "array", "summary")

    def pattern(self) -> str:
        """The regular expression of the keys this declares."""
        parts = re.split(r"\{[^}]*\}", self.name)
        return "[^/]+".join(re.escape(part) for part in parts)

    def matches(self, key: str) -> bool:
        return re.fullmatch(self.pattern(), key) is not None


class Checked:
    """Base of every schema: ``check(prefix)`` validates meaning; ``check_against(config, prefix)`` validates it
    against the other groups of the whole :class:`Config` (a split of the table the group sizes, a metric
    bounded by the task); the defaults check nothing."""

    def check(self, prefix: str) -> None:  # noqa: B027 - optional hook
        pass

    def check_against(self, config: Config, prefix: str) -> None:  # noqa: B027 - optional hook
        pass


#: The seeds numpy and torch both accept.
SEED_RANGE = (0, 2**32 - 1)
SEED_TEXT = f"integer in [{SEED_RANGE[0]}, 2^32 - 1]"


def require_seed(key: str, value: Any) -> None:
    """Seeds are integers in :data:`SEED_RANGE` (numpy refuses negative ones)."""
    low, high = SEED_RANGE
    require(value is None or low <= value <= high, key, value, f"must be an integer in [{low}, {high}]")


@dataclass
class Seeds(Checked):
    """Independent seeds of the data split, the network init, the embedding init and the batch sampler (all
    default to ``seed``)."""

    data: int = described("the train/test split (and the OOCL holdout masks)", allowed=SEED_TEXT)
    model: int = described("the network's initial weights other than W_E", allowed=SEED_TEXT)
    embedding: int = described("the initial embedding W_E (and construct's random frequencies and directions)",
                               allowed=SEED_TEXT)
    sampler: int = described("the rows drawn for each step's batch (only with batch_size)", allowed=SEED_TEXT)

    def check(self, prefix: str) -> None:
        for f in dataclasses.fields(self):
            require_seed(f"{prefix}.{f.name}", getattr(self, f.name))


@dataclass
class EnsembleConfig(Checked):
    """``ensemble``: train members in one process with stacked parameters (speed.md §6).

    Member ``i`` runs with ``seed = seeds[i]`` (default ``seed + i``, or ``seed`` for every member when
    ``weight_decay`` or ``lr`` is given; every ``seeds.*`` shifts by the same amount) and, if given,
    ``optimizer.weight_decay = weight_decay[i]`` and ``optimizer.lr = lr[i]``. The number of members is the
    length of whichever list is given, else ``size``. ``member_dirs`` (packed sweeps) puts member ``i``'s run
    dir at ``member_dirs[i]`` (relative to the working dir, like ``hydra.sweep.dir``) instead of
    ``<run dir>/members/``: there it is claimed, skipped when finished and resumed like a run of its own.
    """

    size: int = described("members trained in one process (seeds seed, seed + 1, ...; every seeds.* shifted alike)",
                          allowed=">= 1")
    seeds: list[int] | None = described("the members' seeds, e.g. [0,5,7] (null: from size)")
    weight_decay: list[float] | None = described("one optimizer.weight_decay per member, e.g. [0.1,0.3,1.0]",
                                                 allowed="values >= 0, or null")
    # keys added after the others: null when a run dir recorded before them is read back (grokscope.load_run)
    lr: list[float] | None = described("one optimizer.lr per member, e.g. [1e-3,3e-3]", allowed="values > 0, or null",
                                       default=None)
    member_dirs: list[str] | None = described(
        "each member's run dir, where its own job would write (set by packed sweeps, hydra/launcher=packed)",
        allowed="distinct paths, two or more, or null", default=None)

    #: the per-member lists, each null or one value per member
    LISTS = ("seeds", "weight_decay", "lr", "member_dirs")

    @property
    def n_members(self) -> int:
        given = [values for values in self.lists().values() if values]
        return len(given[0]) if given else self.size

    def lists(self) -> dict[str, list | None]:
        return {key: getattr(self, key) for key in self.LISTS}

    def check(self, prefix: str) -> None:
        require(self.size >= 1, f"{prefix}.size", self.size, "must be an integer >= 1")
        for seed in self.seeds or ():
            require_seed(f"{prefix}.seeds", seed)
        given = {key: values for key, values in self.lists().items() if values is not None}
        for key, values in given.items():
            require(len(values) >= 1, f"{prefix}.{key}", values, "must be a non-empty list or null")
            require(self.size in (1, len(values)), f"{prefix}.size", self.size,
                    f"must be 1 or the length of {prefix}.{key} ({len(values)})")
        first = next(iter(given), None)
        for key, values in given.items():
            require(len(values) == len(given[first]), f"{prefix}.{key}", values,
                    f"must have one value per member ({len(given[first])}, as {prefix}.{first})")
        require(all(wd >= 0 for wd in self.weight_decay or ()), f"{prefix}.weight_decay", self.weight_decay,
                "values must be >= 0")
        require(all(lr > 0 for lr in self.lr or ()), f"{prefix}.lr", self.lr, "values must be > 0")
        if self.member_dirs is not None:
            require(len(self.member_dirs) >= 2 and len(set(self.member_dirs)) == len(self.member_dirs) and all(
                self.member_dirs), f"{prefix}.member_dirs", self.member_dirs, "must be distinct paths, two or more")
        n = self.n_members if self.seeds or self.weight_decay or self.lr else 1
        settings = list(zip(*(values or [None] * n for values in (self.seeds, self.weight_decay, self.lr))))
        require(n == 1 or len(set(settings)) == n, f"{prefix}.seeds", self.seeds,
                "members would repeat the same run: give distinct seeds (or distinct weight_decay or lr values)")


DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")
#: ``loss_dtype``: the loss's precision (float16 for the loss only: parameters stay float32 or float64)
LOSS_DTYPES = ("float16", "float32", "float64")
#: ``loss.kind`` (:mod:`grokscope.losses`)
LOSS_KINDS = ("cross_entropy", "stablemax")
RESUME_MODES = ("auto", "true", "false")
MATMUL_PRECISIONS = ("highest", "high", "medium")


@dataclass
class LossConfig(Checked):
    """``loss``: the training loss, computed in ``loss_dtype`` (:mod:`grokscope.losses`; Prieto et al. 2025)."""

    kind: str = described("cross_entropy: -log softmax(z)_y; stablemax: -log s(z_y) / sum_j s(z_j) with "
                          "s(x) = x + 1 (x >= 0), 1 / (1 - x) (x < 0), which does not collapse", choices=LOSS_KINDS)

    def check(self, prefix: str) -> None:
        require_choice(f"{prefix}.kind", self.kind, LOSS_KINDS)


#: ``stop.event``
STOP_EVENTS = ("none", "test_acc", "cleanup_end")


@dataclass
class StopConfig(Checked):
    """``stop``: end a run ``after_epochs`` epochs after ``event`` (``max_epochs`` stays the cap); an ensemble ends
    when every member has (grokscope.training.stopping)."""

    event: str = described("none; test_acc: the test accuracy first reaches 0.99; cleanup_end: the end of cleanup as "
                           "the phase rules place it on the losses logged so far", choices=STOP_EVENTS)
    after_epochs: int = described("epochs trained after the event", allowed=">= 0")

    def check(self, prefix: str) -> None:
        require_choice(f"{prefix}.event", self.event, STOP_EVENTS)
        require(self.after_epochs >= 0, f"{prefix}.after_epochs", self.after_epochs, "must be an integer >= 0")


@dataclass
class RunConfig(Checked):
    """Top-level keys of ``conf/train.yaml`` (in the package) (the config groups are validated separately)."""

    name: str | None = described("WandB run name in place of <task>_<model> (null: the task's suggestion, else "
                                 "<task>_<model>); the run's varied keys and seed follow it")
    seed: int = described("default of every seeds.* key", allowed=SEED_TEXT)
    seeds: Seeds = described("independent seeds of the split, the init, the embedding and the batches")
    max_epochs: int = described("optimizer steps (an epoch is one full-batch step)", allowed=">= 1")
    batch_size: int | None = described(
        "null: every row of every loss term each step; n: n rows per term drawn with replacement",
        allowed=">= 1, or null")
    device: str = described("where the run trains (auto: cuda if available)", choices=DEVICES)
    loss_dtype: str = described("precision of the loss (logits are cast before log_softmax or StableMax)",
                                choices=LOSS_DTYPES)
    param_dtype: str = described("parameters and activations (drawn in float32, then cast)", choices=DTYPES)
    matmul_precision: str = described("torch.set_float32_matmul_precision (high: TF32)", choices=MATMUL_PRECISIONS)
    log_every_n_epochs: int = described("cadence of the split losses and accuracies (one forward over the table)",
                                        allowed=">= 1")
    steps_per_call: int = described("epochs run inside one Lightning step (speed only)", allowed=">= 1")
    checkpoint_every_n_epochs: int = described("cadence of checkpoints/epoch=<N>.ckpt (also written at the end)",
                                               allowed=">= 1")
    snapshot_every_n_epochs: int | None = described(
        "snapshots/epoch=<N>.pt (every parameter) at 0, every N epochs and the end; null: none",
        allowed=">= 1, or null")
    progress_bar: bool = described("a tqdm bar over epochs")
    plots: bool = described("plots/*.png at the end of a run (false: arrays and metrics.csv only)")
    resume: str = described("auto: continue from the newest good checkpoint if any; true: require one; false: afresh",
                            choices=RESUME_MODES)
    compile: bool = described("torch.compile the training forward (speed only)")
    ensemble: EnsembleConfig = described("several members trained in one process with stacked parameters")
    # as conf/train.yaml; the default lets run dirs recorded before the key load
    cuda_graph: bool = described("on a GPU, replay each epoch after the lr warm-up from one captured CUDA graph "
                                 "where that is exact (speed only)", default=True)
    loss: LossConfig = described("the training loss and every loss a run reports",
                                 factory=lambda: LossConfig("cross_entropy"))
    stop: StopConfig = described("end the run a number of epochs after an event (max_epochs: the cap)",
                                 factory=lambda: StopConfig("none", 0))

    def check(self, prefix: str = "") -> None:
        require_seed("seed", self.seed)
        require(self.max_epochs >= 1, "max_epochs", self.max_epochs, "must be an integer >= 1")
        require(self.batch_size is None or self.batch_size >= 1, "batch_size", self.batch_size,
                "must be an integer >= 1 or null (full batch)")
        require_choice("device", self.device, DEVICES)
        require_choice("loss_dtype", self.loss_dtype, LOSS_DTYPES)
        require_choice("param_dtype", self.param_dtype, DTYPES)
        self.resume = str(self.resume).lower()  # resume=true arrives as a YAML boolean
        require_choice("resume", self.resume, RESUME_MODES)
        require_choice("matmul_precision", self.matmul_precision, MATMUL_PRECISIONS)
        for key in ("log_every_n_epochs", "steps_per_call", "checkpoint_every_n_epochs"):
            require(getattr(self, key) >= 1, key, getattr(self, key), "must be an integer >= 1")
        require(self.snapshot_every_n_epochs is None or self.snapshot_every_n_epochs >= 1, "snapshot_every_n_epochs",
                self.snapshot_every_n_epochs, "must be an integer >= 1 or null (no snapshots)")


@dataclass
class SlurmConfig:
    """``local.slurm``: what ``hydra/launcher=slurm`` asks the cluster for (hydra-submitit-launcher's keys)."""

    partition: str | None = described("the Slurm partition (null: the cluster's default)")
    account: str | None = described("the account charged (null: the user's default)")
    qos: str | None = described("the quality of service (null: the default)")
    timeout_min: int = described("each job's time limit in minutes")
    gpus_per_node: int = described("GPUs per job")
    cpus_per_task: int = described("CPU cores per job")
    mem_gb: int = described("memory per job in GB")
    array_parallelism: int = described("jobs of one sweep running at once")


@dataclass
class LocalConfig:
    """``local=<name>``: machine-specific values (``conf/local/<name>.yaml``, a copy of ``default`` filled in),
    read by the launchers only; :func:`validate` leaves them to the launcher."""

    slurm: SlurmConfig = described("the values hydra/launcher=slurm passes to Slurm")


#: group name -> option ``name`` -> schema dataclass, as :func:`validate` receives them.
Schemas = dict[str, dict[str, type]]
GROUPS = ("task", "model", "optimizer", "metrics", "logger")
#: Config groups that only some tasks use: validated when selected, and required by a task schema that
#: names them in its ``requires`` class attribute (``task=composition`` requires ``group``).
OPTIONAL_GROUPS = ("group",)


@dataclass
class Config:
    """A validated run configuration: typed groups plus the resolved DictConfig for logging."""

    run: RunConfig
    task: Any
    model: Any
    optimizer: Any
    metrics: Any
    logger: Any
    group: Any = None
    #: option name -> schema, in the order selected (``intervention=[freeze_embedding,perturb]``)
    intervention: dict[str, Any] = field(default_factory=dict)
    raw: DictConfig | None = None


def typed(schema: type, node: DictConfig, prefix: str):
    """The checked dataclass of ``node``: :func:`structured`, unless the schema has a ``from_node(node,
    prefix)`` class method and types its node itself (a node whose keys are not fixed, such as ``metrics``
    with one sub-node per metric family)."""
    if hasattr(schema, "from_node"):
        return schema.from_node(node, prefix)
    return structured(schema, node, prefix)


def structured(schema: type, node: DictConfig, prefix: str):
    """Merge ``node`` into ``schema`` (types, unknown keys, missing keys); return the dataclass, its meaning
    and that of its :class:`Checked` fields checked."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        key = f"{prefix}.{err.full_key}" if prefix and err.full_key else (err.full_key or prefix)
        value = OmegaConf.select(node, str(err.full_key), default=None) if err.full_key else None
        msg = str(err.msg).splitlines()[0] if getattr(err, "msg", None) else type(err).__name__
        if "is not a valid bool" in msg:  # OmegaConf's words for a non-boolean: say what is allowed
            msg = "must be true or false"
        raise ConfigError(key, value, msg) from None
    check_kinds(obj, OmegaConf.to_container(node, resolve=True), prefix)
    obj.check(prefix)
    for f in dataclasses.fields(obj):
        sub = getattr(obj, f.name)
        if isinstance(sub, Checked):
            sub.check(f"{prefix}.{f.name}" if prefix else f.name)
    return obj


def check_kinds(obj, given: dict, prefix: str) -> None:
    """What merging into a schema lets through: a ``bool`` key given anything but true or false (OmegaConf reads
    ``2`` or ``yes`` as true), and a ``float`` key (or list of floats) that is not finite (``inf``, ``nan``).
    ``given`` holds the values as composed; nested schemas are checked alike."""
    for f in dataclasses.fields(obj):
        key, value = f"{prefix}.{f.name}" if prefix else f.name, getattr(obj, f.name)
        kind = str(f.type).replace(" ", "")
        raw = given.get(f.name) if isinstance(given, dict) else None
        if kind in ("bool", "bool|None") and raw is not None:
            require(isinstance(raw, bool), key, raw, "must be true or false")
        elif kind.startswith(("float", "list[float]")) and value is not None:
            values = value if isinstance(value, list) else [value]
            require(all(math.isfinite(v) for v in values), key, value, "must be a finite number")
        elif dataclasses.is_dataclass(value) and isinstance(raw, dict):
            check_kinds(value, raw, key)


def validate(cfg: DictConfig, schemas: Schemas) -> Config:
    """Check a composed config against ``schemas`` and return it typed; raise :class:`ConfigError` on the
    first problem."""
    skip = (*GROUPS, *OPTIONAL_GROUPS, "intervention", "experiment", "local")
    top = {k: v for k, v in cfg.items() if k not in skip}
    run = structured(RunConfig, OmegaConf.create(top), "")
    groups = {}
    for group in (*GROUPS, *OPTIONAL_GROUPS):
        node = cfg.get(group)
        if node is None and group in OPTIONAL_GROUPS:
            groups[group] = None
            continue
        require(node is not None, group, node, "a config group option must be selected")
        name = node.get("name")
        options = schemas[group]
        require_choice(f"{group}.name", name, tuple(options))
        groups[group] = typed(options[name], node, group)
    task = groups["task"]
    for needed in getattr(task, "requires", ()):
        require(groups[needed] is not None, needed, None,
                f"task={task.name} needs one: {needed}={'|'.join(schemas[needed])}")
    config = Config(run=run, intervention=_interventions(cfg.get("intervention"), schemas["intervention"]), raw=cfg,
                    **groups)
    interventions = ((f"intervention.{name}", schema) for name, schema in config.intervention.items())
    for prefix, schema in (("", run), *groups.items(), *interventions):
        if schema is not None:
            schema.check_against(config, prefix)
    return config


def _interventions(node: DictConfig | None, options: dict[str, type]) -> dict[str, Any]:
    """The ``intervention`` node holds one key per selected option (its schema's name): type-check each."""
    out = {}
    for name, sub in (node or {}).items():
        require_choice("intervention", name, tuple(options))
        resolved = OmegaConf.create(OmegaConf.to_container(sub, resolve=True))  # ${seed} needs the root
        out[name] = typed(options[name], resolved, f"intervention.{name}")
    return out
