"""``grokscope-train --help``: the config groups with their options and every top-level key with its meaning,
the same meanings as the README's config map."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from grokscope.paths import CONF_DIR
from tests.helpers.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"
HELP = CONF_DIR / "hydra" / "help" / "grokscope.yaml"


def plain(markdown: str) -> str:
    """A README cell as the help prints it: no backticks, links as their text."""
    return re.sub(r"\[([^\]]+)\]\(#[^)]+\)", r"\1", markdown).replace("`", "").strip()


def readme_keys() -> dict[str, str]:
    """key -> meaning of the README's config-map table of train.yaml."""
    section = README.read_text().split("## Config map", 1)[1].split("| key | default | meaning |", 1)[1]
    rows = {}
    for line in section.splitlines()[2:]:
        if not line.startswith("| `"):
            break
        key, _default, meaning = line.strip("|").split("|")
        rows[plain(key)] = plain(meaning)
    return rows


def help_keys() -> dict[str, str]:
    """key -> meaning of the key lines of the help template."""
    template = yaml.safe_load(HELP.read_text())["template"]
    lines = template.split("== Keys of train.yaml (key=value) ==", 1)[1].strip().split("\n\n", 1)[0].splitlines()
    return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines)


def test_help_keys_are_the_readme_config_map():
    assert help_keys() == readme_keys()


def test_every_top_level_key_is_described():
    train = yaml.safe_load((CONF_DIR / "train.yaml").read_text())
    described = {part.strip().split(".")[0] for key in help_keys() for part in key.split("/")}
    assert set(train) - {"defaults", "hydra"} <= described


def test_help_shows_groups_and_keys(tmp_path):
    proc = cli("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "task: composition, modular, oocl" in proc.stdout
    assert "intervention: ablate, construct, freeze_embedding, noise, none, perturb" in proc.stdout
    for key, meaning in help_keys().items():
        assert re.search(rf"^{re.escape(key)}\s+{re.escape(meaning)}$", proc.stdout, re.MULTILINE), key
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_quick_help_page_is_hydras(tmp_path):
    """``--help`` alone is rendered without Hydra composing every option; with an override Hydra renders it:
    the same page."""
    quick, hydra = cli("--help", cwd=tmp_path), cli("--help", "seed=0", cwd=tmp_path)
    assert quick.returncode == hydra.returncode == 0
    assert quick.stdout == hydra.stdout and "== Config groups (group=option) ==" in quick.stdout
