"""``grokscope-train --help``: the config groups with their options and every key with its default and meaning,
generated from the config schemas (the config reference's source); the quick page is Hydra's."""

from __future__ import annotations

import re

import yaml

from grokscope.cli import reference
from grokscope.cli.help import HELP_YAML, render_help
from grokscope.paths import CONF_DIR
from grokscope.run.compose import compose
from tests.helpers.cli import cli


def test_the_help_template_is_a_fresh_generation():
    assert yaml.safe_load(HELP_YAML.read_text())["template"] == reference.help_template(), \
        "stale: run  python -m grokscope.cli.reference docs/reference"


def test_every_key_of_the_default_config_is_on_the_help_page():
    page = render_help()
    keys = reference.leaves(reference.plain(compose([])))
    missing = [key for key in keys if not key.endswith(".name") and not re.search(
        rf"^{re.escape(key)}=\S", page, re.MULTILINE)]
    assert missing == []
    train = yaml.safe_load((CONF_DIR / "train.yaml").read_text())
    assert all(re.search(rf"^{key}[.=]", page, re.MULTILINE) for key in set(train) - {"defaults", "hydra"})


def test_help_shows_groups_and_keys_with_their_defaults(tmp_path):
    proc = cli("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = proc.stdout
    assert "task: composition, modular, oocl" in page
    assert "intervention: ablate, construct, freeze_embedding, noise, none, perturb" in page
    experiments = next(line for line in page.splitlines() if line.startswith("experiment: "))
    assert "nanda_2023" in experiments and "_chughtai" not in experiments  # shared setups are not presets
    for key, default, meaning in [("task.frac_train", "0.4", "training split"), ("model.d_embed", "32", "width"),
                                  ("optimizer.lr", "0.003", "learning rate"),
                                  ("optimizer.weight_decay", "1.0", "weight decay"),
                                  ("seeds.data", "${seed}", "split")]:
        assert re.search(rf"^{re.escape(key)}={re.escape(default)}\s+.*{meaning}", page, re.MULTILINE), key
    assert "src/grokscope" not in page and "README" not in page  # no path a wheel install lacks
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_quick_help_page_is_hydras(tmp_path):
    """``--help`` alone is rendered without Hydra composing every option; with an override Hydra renders it:
    the same page."""
    quick, hydra = cli("--help", cwd=tmp_path), cli("--help", "seed=0", cwd=tmp_path)
    assert quick.returncode == hydra.returncode == 0
    assert quick.stdout == hydra.stdout and "== Config groups (group=option) ==" in quick.stdout
