"""``grokscope-train --help`` without composing every option: the same page Hydra renders from the help
template (``conf/hydra/help/grokscope.yaml``), with the config groups listed from the package's folders.

Hydra's own ``--help`` composes each option of every group, its own included, which costs about a second;
this renders the template with ``$APP_CONFIG_GROUPS`` as Hydra writes it (``group: option, ...``, groups in
order, hidden Hydra groups left out). A test keeps the two pages equal.
"""

from __future__ import annotations

import string

from omegaconf import OmegaConf

from grokscope.paths import CONF_DIR

HELP_FLAGS = ("--help", "-h")


def config_groups() -> str:
    """``group: option, option, ...`` for every config group of the package, nested ones (``metrics/family``)
    included, Hydra's own left out."""
    folders = sorted(p.relative_to(CONF_DIR).as_posix() for p in CONF_DIR.rglob("*") if p.is_dir())
    lines = []
    for group in (g for g in folders if g.split("/")[0] != "hydra"):
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        lines.append(f"{group}: {', '.join(options)}")
    return "".join(f"{line}\n" for line in lines)


def render_help() -> str:
    """The ``--help`` page, as Hydra renders the package's help template."""
    node = OmegaConf.create({"hydra": {"help": OmegaConf.load(CONF_DIR / "hydra" / "help" / "grokscope.yaml")}})
    template = OmegaConf.to_container(node, resolve=True)["hydra"]["help"]["template"]
    return string.Template(template).safe_substitute(APP_CONFIG_GROUPS=config_groups())


def is_plain_help(argv: list[str]) -> bool:
    """``grokscope-train --help`` (or ``-h``) with nothing else: the page does not depend on overrides."""
    return len(argv) == 1 and argv[0] in HELP_FLAGS
