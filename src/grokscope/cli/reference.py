"""The config reference and the metric reference, generated from the code so that they cannot drift:

    python -m grokscope.cli.reference docs/reference      # writes config.md and metrics.md there

``config.md`` lists every key of every config group: its dotted name, type, default, allowed values and meaning.
Meanings and allowed values come from the schema fields (:func:`grokscope.config.described`, the tuples their
``check`` validates against); defaults from the YAML as Hydra composes each group option (for the option a
section is named after; the other options of the same schema are listed with the keys they change).

``metrics.md`` lists every key a run logs, or its pattern (``progress/excluded_loss/freq_{k}``), with its formula,
paper and section and the plot that shows it, from the :class:`~grokscope.config.MetricKey` declarations beside
the code that computes each value: :data:`grokscope.metrics.evaluation.KEYS` (every run), each built-in metric
family's ``keys``, the ``ablated/...`` keys of ``intervention=ablate`` and the summary fields of
:data:`SUMMARY_KEYS`. The same run writes the key list of ``grokscope-train --help`` (every key with its default
and meaning) into the package's help template. A test keeps the committed pages equal to a fresh generation.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
import types
import typing
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from grokscope.cli.help import HELP_YAML, config_groups
from grokscope.config import NAME_MEANING, LocalConfig, MetricKey, RunConfig
from grokscope.interventions import ablate
from grokscope.metrics import BUILTIN, evaluation, phases
from grokscope.metrics.phases import GROK_THRESHOLD
from grokscope.paths import CONF_DIR
from grokscope.run.config import SCHEMAS
from grokscope.tasks import Task
from grokscope.tasks.oocl import EVAL_MASKS as OOCL_MASKS

#: ``summary.json`` fields of every run (the families add theirs: their ``keys`` of kind ``summary``).
SUMMARY_KEYS = (
    MetricKey("final", "the last row of metrics.csv: every scalar above at the last epoch", kind="summary"),
    MetricKey("grok_epochs.{split}", f"the first logged epoch at which the split's accuracy reached {GROK_THRESHOLD} "
              "(null: never); grokscope-collect's column grok_epoch/{split}",
              rf"\min\{{e : \texttt{{acc}}_S(e) \ge {GROK_THRESHOLD}\}}", plot="plots/curves.png", kind="summary"),
    MetricKey("min_loss.{split}.loss", "the split's lowest logged loss", r"\min_e \texttt{loss}_S(e)",
              plot="plots/curves.png", kind="summary"),
    MetricKey("min_loss.{split}.epoch", "the first epoch at which it was logged", r"\arg\min_e \texttt{loss}_S(e)",
              kind="summary"),
    *phases.KEYS,
)

#: The config groups of the reference, in its order, with a line on each.
GROUPS = {
    "task": "what is learned: the table of inputs, labels, splits and loss terms",
    "group": "the finite group of task=composition",
    "model": "tokens -> logits at the answer position, with TransformerLens parameter and hook names",
    "optimizer": "the optimizer, its linear warm-up and gradient clipping",
    "intervention": "none, or one or several options (intervention=[a,b]), each under its own key, acting in the "
                    "order given",
    "metrics": "the metric cadence and one node per metric family (metrics.<family>)",
    "logger": "metrics.csv always; Weights & Biases unless logger=csv",
    "local": "machine-specific values for the launchers (conf/local/<name>.yaml)",
}


# ---------------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class KeyRow:
    """One row of the config reference."""

    key: str
    type: str
    default: str
    allowed: str
    meaning: str


@dataclass(frozen=True)
class Section:
    """A table of keys under a title, with a paragraph before it and ``options``: ``(option, changed keys)``
    of the other options that share the schema."""

    title: str
    intro: str
    rows: tuple[KeyRow, ...]
    options: tuple[tuple[str, str], ...] = ()


def type_name(tp: Any) -> str:
    """A field's type in words: ``int``, ``float or null``, ``list of int``, ``node``, ``list of nodes``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin is list:
        inner = args[0] if args else Any
        return "list of nodes" if dataclasses.is_dataclass(inner) else f"list of {type_name(inner)}"
    if dataclasses.is_dataclass(tp):
        return "node"
    return getattr(tp, "__name__", str(tp))


def value_text(value: Any) -> str:
    """A YAML value as the command line writes it (interpolations left as they are)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def plain(node: DictConfig) -> dict:
    """A composed node as plain containers, interpolations (``${seed}``) unresolved."""
    return OmegaConf.to_container(node, resolve=False)


def list_item(tp: Any) -> type | None:
    """The schema of the items of a ``list[schema]`` type, else None."""
    args = typing.get_args(tp)
    return args[0] if typing.get_origin(tp) is list and args and dataclasses.is_dataclass(args[0]) else None


def schema_rows(schema: type, prefix: str, node: dict | None, names: Iterable[str] = ()) -> list[KeyRow]:
    """A row per field of ``schema`` (``prefix.field``), the fields of a nested schema after its own row; defaults
    from ``node`` (the plain composed node of the schema; None: no defaults); ``names``: the options a ``name``
    field selects. Raises ``ValueError`` for a field declared without a meaning."""
    hints = typing.get_type_hints(schema)
    rows = []
    for f in dataclasses.fields(schema):
        if f.name == "families":  # MetricsConfig's typed family nodes: sections of their own
            continue
        meaning, choices = f.metadata.get("meaning"), f.metadata.get("choices")
        if not meaning:
            raise ValueError(f"{schema.__qualname__}.{f.name} has no meaning: declare it with described(...)")
        if f.name == "name" and meaning == NAME_MEANING:
            choices = tuple(names)
        tp, key = hints[f.name], f"{prefix}.{f.name}" if prefix else f.name
        value = node.get(f.name, ...) if node is not None else ...
        nested = dataclasses.is_dataclass(tp)
        default = "" if value is ... or nested else f"`{value_text(value)}`"
        allowed = ", ".join(f"`{c}`" for c in choices) if choices else f.metadata.get("allowed", "")
        rows.append(KeyRow(key, type_name(tp), default, allowed, meaning))
        if nested:
            rows += schema_rows(tp, key, value if isinstance(value, dict) else None)
        elif list_item(tp) is not None:
            rows += schema_rows(list_item(tp), f"{key}[]", None)
    return rows


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every leaf of a (plain) composed config; a list is a leaf."""
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out |= leaves(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def options(group: str) -> list[str]:
    """The options of a config group: its YAML files (``_``-prefixed ones are shared setups, not options)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


@contextmanager
def composer():
    """``compose(group, option)``: the plain node of one group option as Hydra composes it (its ``defaults``
    included); ``compose()``: the whole default config of ``grokscope-train``. One Hydra initialisation for all."""
    from hydra import compose, initialize_config_dir

    def composed(group: str | None = None, option: str | None = None) -> dict:
        if group is None:
            return plain(compose("train"))
        return plain(compose(None, overrides=[f"+{group}={option}"]))[group.split("/")[0]]

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield composed


def changed(base: dict, other: dict) -> str:
    """The keys (``name`` aside) whose values differ between two nodes of one schema, as ``key=value``."""
    a, b = leaves(base), leaves(other)
    diff = [f"`{key}={value_text(value)}`" for key, value in b.items()
            if key != "name" and (key not in a or a[key] != value)]
    return ", ".join(diff) or "the same values"


def group_sections(group: str, compose, default: dict) -> list[Section]:
    """One section per schema of ``group``: its rows with the defaults of its main option (the group's default
    in ``train.yaml``, else the option whose ``name`` is its own) and the keys each other option changes. The
    title names the options that select the schema by their own name (``group=cyclic|dihedral|...``)."""
    by_schema: dict[type, list[tuple[str, dict]]] = {}
    for option in options(group):
        node = compose(group, option)
        by_schema.setdefault(SCHEMAS[group][node["name"]], []).append((option, node))
    sections = []
    for schema, opts in by_schema.items():
        main = next((o for o in opts if o[1] == default), None) or next((o for o in opts if o[0] == o[1]["name"]),
                                                                         opts[0])
        own = [main[0], *(option for option, node in opts if option == node["name"] and option != main[0])]
        names = [name for name, s in SCHEMAS[group].items() if s is schema]
        intro = (f"Defaults: `{group}={main[0]}`'s; the other options of this schema change the keys listed after "
                 "the table." if len(opts) > 1 else "")
        sections.append(Section(f"{group}={'|'.join(own)}", intro, tuple(schema_rows(schema, group, main[1], names)),
                                tuple((o, changed(main[1], node)) for o, node in opts if o != main[0])))
    return sections


def intervention_sections(compose) -> list[Section]:
    """One section per option of ``intervention`` (``none`` has no keys)."""
    sections = []
    for option in options("intervention"):
        if option in SCHEMAS["intervention"]:
            schema = SCHEMAS["intervention"][option]
            node = compose("intervention", option)[option]
            sections.append(Section(f"intervention={option}", "",
                                    tuple(schema_rows(schema, f"intervention.{option}", node))))
    return sections


def metrics_sections(compose, default: dict) -> list[Section]:
    """``metrics`` itself (``default`` and ``none``), then one section per metric family."""
    (section,) = group_sections("metrics", compose, default)
    base = default["metrics"]
    sections = [dataclasses.replace(section, intro="Metric epochs: 0, every `every_n_epochs`, `log_points` "
                                    "log-spaced epochs, every epoch up to `dense_epochs`, and the last. "
                                    + section.intro)]
    for family in BUILTIN:
        name = family.name
        if name in base:
            intro = f"`metrics.{name}` {applies(family)}."
            sections.append(Section(f"metrics.{name}", intro, tuple(schema_rows(family.schema, f"metrics.{name}",
                                                                                base[name]))))
    return sections


def other_groups_section() -> Section:
    """Options that set keys of another group's node (``+oocl_weights=...``) and the experiment presets."""
    lines = []
    for option in options("oocl_weights"):
        node = plain(OmegaConf.load(CONF_DIR / "oocl_weights" / f"{option}.yaml"))
        lines.append((f"+oocl_weights={option}", ", ".join(f"`task.{k}={value_text(v)}`" for k, v in node.items())))
    shared = sorted(p.stem for p in (CONF_DIR / "experiment").glob("_*.yaml"))
    lines += [(f"experiment={option}", experiment_settings(option)) for option in options("experiment")]
    lines += [(f"{option} (shared setup)", experiment_settings(option)) for option in shared]
    return Section("oocl_weights, experiment", "Options that set keys of the groups above. An experiment is a preset "
                   "named after its source: what its own file selects and sets (on top of the presets it names); "
                   "`grokscope-train --cfg job experiment=<name>` prints the whole config it composes.", (),
                   tuple(lines))


def experiment_settings(option: str) -> str:
    """What ``conf/experiment/<option>.yaml`` itself selects and sets: ``group=option`` for its defaults list
    (``experiment=base`` for a preset it builds on), then ``key=value`` for its keys."""
    node = plain(OmegaConf.load(CONF_DIR / "experiment" / f"{option}.yaml"))
    selected = []
    for entry in node.pop("defaults", []):
        if isinstance(entry, dict):
            selected += [f"{key.removeprefix('override ').lstrip('/')}={value}" for key, value in entry.items()]
        elif entry != "_self_":
            selected.append(f"experiment={entry}")
    return ", ".join(f"`{item}`" for item in [*selected, *(f"{key}={value_text(value)}" for key, value in
                                                            leaves(node).items())])


@functools.cache
def config_sections() -> dict[str, list[Section]]:
    """Part title -> its sections, in the order of the reference (composed once per process)."""
    with composer() as compose:
        default = compose()
        parts = {"Top-level keys (`train.yaml`)": [Section(
            "train.yaml", "The run's own keys; `train.yaml` also selects one option per config group below.",
            tuple(schema_rows(RunConfig, "", default)))]}
        for group, line in GROUPS.items():
            title = f"`{group}`: {line}"
            if group == "intervention":
                parts[title] = intervention_sections(compose)
            elif group == "metrics":
                parts[title] = metrics_sections(compose, default)
            elif group == "local":
                parts[title] = [Section("local=default", "Copy `conf/local/default.yaml` to "
                                        "`conf/local/<cluster>.yaml`, fill it in and select it with `local=<cluster>`.",
                                        tuple(schema_rows(LocalConfig, "local", default["local"])))]
            else:
                parts[title] = group_sections(group, compose, default[group])
    parts["Other options"] = [other_groups_section()]
    return parts


def first_paragraph(doc: str | None) -> str:
    """The first paragraph of a docstring on one line, reST literals and roles as Markdown code."""
    text = " ".join(line.strip() for line in (doc or "").strip().split("\n\n")[0].splitlines())
    return re.sub(r":\w+:`~?(?:[\w.]+\.)?(\w+)`", r"`\1`", text).replace("``", "`")


def first_line(doc: str | None) -> str:
    return first_paragraph(doc).split(". ")[0].rstrip(".")


def applies(family) -> str:
    """Where ``family`` applies, from its ``applies`` docstring: "applies to ..."."""
    line = first_line(family.applies.__doc__)
    return line[:1].lower() + line[1:]


def cell(text: str) -> str:
    """Text safe in a Markdown table cell: outside code spans ``|``, ``<`` and ``*`` escaped (no cell break, HTML
    tag or emphasis by accident). A code span in a cell holds no ``|`` (the site would print its escape)."""
    parts = text.split("`")
    if any("|" in code for code in parts[1::2]):
        raise ValueError(f"a code span with | in a table cell: {text}")
    for i in range(0, len(parts), 2):  # the even parts lie outside code spans
        parts[i] = parts[i].replace("|", r"\|").replace("<", "&lt;").replace("*", r"\*")
    return "`".join(parts)


def config_reference() -> str:
    """The text of ``docs/reference/config.md``."""
    out = ["# Config reference", "",
           "Every key `grokscope-train` accepts, generated from the config schemas (`python -m "
           "grokscope.cli.reference docs/reference`; do not edit by hand). Defaults are those of the YAML files in "
           "the package (`src/grokscope/conf/`), as Hydra composes them; a value is set with `key=value` on the "
           "command line, a group option with `group=option`. An unknown key, a value of the wrong type or one "
           "outside the allowed values stops the run with one line naming the key.", ""]
    for part, sections in config_sections().items():
        out += [f"## {part}", ""]
        for section in sections:
            out += [f"### `{section.title}`" if "," not in section.title else f"### {section.title}", ""]
            if section.intro:
                out += [cell(section.intro), ""]
            if section.rows:
                out += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
                out += [f"| `{r.key}` | {r.type} | {r.default} | {cell(r.allowed)} | {cell(r.meaning)} |"
                        for r in section.rows]
                out.append("")
            if section.options:
                out += ["| option | sets |", "|---|---|"]
                out += [f"| `{option}` | {cell(keys)} |" for option, keys in section.options]
                out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------------- metrics


def metric_sections() -> dict[str, tuple[str, tuple[MetricKey, ...]]]:
    """Section title -> (its paragraph, its keys): every run's keys, each built-in family's, the ablation's and
    the summary's."""
    sections = {"Every run": (
        "Logged every `log_every_n_epochs`, at every metric epoch and at the last, from one forward pass over the "
        f"whole table. `{{split}}` is each evaluated split: {', '.join(f'`{m}`' for m in Task.eval_masks)} "
        f"(task=oocl: {', '.join(f'`{m}`' for m in OOCL_MASKS)}).", evaluation.KEYS)}
    for family in BUILTIN:
        arrays = any(key.kind == "array" for key in family.keys)
        intro = (f"`metrics.{family.name}` {applies(family)}. Logged on the metric cadence (`metrics.every_n_epochs`, "
                 "`log_points`, `dense_epochs`, the last epoch)" + (f"; arrays in `arrays/{family.name}.npz`." if
                                                                    arrays else "."))
        intro += f"\n\nNotation: {family.notation}" if family.notation else ""
        sections[f"`{family.name}/...`"] = (intro, tuple(family.keys))
    sections["`ablated/...`"] = (
        "`intervention=ablate intervention.ablate.when=eval`: training is unchanged; each metric epoch also "
        "evaluates the model with the ablation applied.", ablate.KEYS)
    sections["Summary (`summary.json`)"] = (
        "Fields of every run's `summary.json` beside its status, epochs and resolved config; the families add "
        "theirs (kind *summary* above).", SUMMARY_KEYS)
    return sections


def declared(kind: str | None = None) -> list[MetricKey]:
    """Every declared key (of ``kind``, if given)."""
    return [key for _, keys in metric_sections().values() for key in keys if kind is None or key.kind == kind]


def undeclared(logged: Iterable[str], keys: Iterable[MetricKey]) -> list[str]:
    """The ``logged`` keys that no declaration in ``keys`` matches."""
    keys = list(keys)
    return sorted(key for key in set(logged) if not any(k.matches(key) for k in keys))


def metrics_reference() -> str:
    """The text of ``docs/reference/metrics.md``."""
    out = ["# Metric reference", "",
           "Every key a run logs, generated from the declarations beside the code that computes it (`python -m "
           "grokscope.cli.reference docs/reference`; do not edit by hand). A *scalar* is a column of `metrics.csv` "
           "(and a WandB series); an *array* is stacked over the metric epochs in `arrays/<namespace>.npz` under "
           "the key's name after the namespace (`epochs` holds the epochs); a *summary* is a field of "
           "`summary.json`. `{...}` in a key stands for each value it takes. `S` is a split's set of rows, "
           r"$\ell_r$ row $r$'s logits, $y_r$ its label, $\mathrm{CE}_S$ the mean cross-entropy over $S$; $F$ is "
           r"the orthonormal Fourier basis of $\mathbb Z_p$ (rows const, cos 1, sin 1, ...) and $w_k = 2\pi k/p$.", ""]
    for title, (intro, keys) in metric_sections().items():
        out += [f"## {title}", "", intro, ""]
        for key in keys:
            out += [f"### `{key.name}`", "", f"*{key.kind}*: {key.meaning}.", ""]
            if key.formula:
                out += ["$$", key.formula, "$$", ""]
            facts = [f"Source: {key.source}." if key.source else "",
                     f"Plot: `{key.plot}`." if key.plot else ""]
            if any(facts):
                out += [" ".join(f for f in facts if f), ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------------------- help

#: Width of the ``key=default`` column of the help page.
HELP_WIDTH = 46


def help_escaped(text: str) -> str:
    """``text`` as the help template must hold it: ``$`` doubled for ``string.Template`` (Hydra's rendering) and
    ``${`` escaped for OmegaConf (``${seed}`` is printed, not resolved)."""
    return text.replace("$", "$$").replace("$${", "$\\${")


def help_keys() -> list[str]:
    """The key lines of the help page: per section of the config reference, ``key=default  meaning`` for every
    key with a default (nodes and the ``name`` the section's title gives left out), and the other options of the
    section's schema."""
    lines = []
    for sections in config_sections().values():
        for section in sections:
            rows = [row for row in section.rows if row.default and not row.key.endswith(".name")]
            if not rows:
                continue
            lines += ["", f"-- {section.title} --"]
            for row in rows:
                head = f"{row.key}={row.default.strip('`')}"
                lines.append(f"{head:<{HELP_WIDTH - 2}}  {row.meaning}")
            if section.options:
                group = section.title.split("=")[0]
                names = ", ".join(f"{group}={option}" for option, _ in section.options)
                lines.append(f"  other defaults: {names} (see the config reference)")
    return lines


def help_template() -> str:
    """The ``template`` of ``conf/hydra/help/grokscope.yaml``: the header, the config groups and their options,
    every key with its default and meaning, the footer."""
    lines = ["${hydra.help.header}", "== Config groups (group=option) ==", "", *config_groups(), "",
             "== Keys (key=default  meaning) ==", *(help_escaped(line) for line in help_keys()), "",
             "${hydra.help.footer}"]
    return "\n".join(lines) + "\n"


def write_help() -> Path:
    """Replace the ``template`` of the help YAML with :func:`help_template` (the header and footer above it stay)."""
    head, marker = HELP_YAML.read_text().split("\ntemplate: |\n", 1)[0], "\ntemplate: |\n"
    body = "".join(f"  {line}\n" if line else "\n" for line in help_template().splitlines())
    HELP_YAML.write_text(head + marker + body)
    return HELP_YAML


# ------------------------------------------------------------------------------------------------------------ entry


def write(out_dir: str | Path) -> list[Path]:
    """Write ``config.md`` and ``metrics.md`` into ``out_dir`` and the key list of ``grokscope-train --help``
    into the package's help template; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("config.md", config_reference()), ("metrics.md", metrics_reference())):
        path = out_dir / name
        path.write_text(text)
        paths.append(path)
    return [*paths, write_help()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m grokscope.cli.reference OUT_DIR   (writes OUT_DIR/config.md, OUT_DIR/metrics.md and "
              "the key list of grokscope-train --help)", file=sys.stderr)
        return 2
    for path in write(argv[0]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
