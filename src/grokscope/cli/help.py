"""``grokscope-train --help`` without composing every option: the page Hydra renders from the help template
(``conf/hydra/help/grokscope.yaml``).

The template holds the whole page: the config groups with their options (``_``-prefixed shared setups left out)
and every key with its default and meaning, both generated from the package's folders and config schemas by
:mod:`grokscope.cli.reference` (a test keeps them fresh), so Hydra's own ``--help`` (which composes every option
of every group, about a second) and this one print the same page. Reading it imports neither torch nor the
schemas.
"""

from __future__ import annotations

import string

from omegaconf import OmegaConf

from grokscope.paths import CONF_DIR

HELP_FLAGS = ("--help", "-h")
HELP_YAML = CONF_DIR / "hydra" / "help" / "grokscope.yaml"


def config_groups() -> list[str]:
    """``group: option, option, ...`` for every config group of the package, nested ones (``metrics/family``)
    included, Hydra's own and ``_``-prefixed options (shared setups of other options) left out."""
    folders = sorted(p.relative_to(CONF_DIR).as_posix() for p in CONF_DIR.rglob("*") if p.is_dir())
    lines = []
    for group in (g for g in folders if g.split("/")[0] != "hydra"):
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))
        lines.append(f"{group}: {', '.join(options)}")
    return lines


def render_help() -> str:
    """The ``--help`` page, as Hydra renders the package's help template."""
    node = OmegaConf.create({"hydra": {"help": OmegaConf.load(HELP_YAML)}})
    template = OmegaConf.to_container(node, resolve=True)["hydra"]["help"]["template"]
    return string.Template(template).substitute()


def is_plain_help(argv: list[str]) -> bool:
    """``grokscope-train --help`` (or ``-h``) with nothing else: the page does not depend on overrides."""
    return len(argv) == 1 and argv[0] in HELP_FLAGS
