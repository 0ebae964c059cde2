"""The config and metric references (``docs/reference/``) are generated from the code: the committed pages equal a
fresh generation, every key of real configs is in the config reference, and every key real runs log is declared
in the metric reference (a key whose declaration is removed is found)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from grokscope.cli import reference
from grokscope.run.compose import compose
from tests.helpers.runs import train

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reference"
REGENERATE = "stale: run  python -m grokscope.cli.reference docs/reference"

#: Real configs whose every key must be documented: the default, the papers' presets, each intervention and the
#: options whose nodes differ most from the defaults.
CONFIGS = [
    [], ["experiment=nanda_2023"], ["experiment=pizza_model_a"], ["experiment=chughtai_s5_mlp"],
    ["experiment=circle_survival"], ["experiment=oocl_small"], ["task=composition", "group=product"],
    ["optimizer=sgd", "logger=csv", "metrics=none"], ["model=oocl_transformer", "+oocl_weights=k110"],
    *([f"intervention={option}"] for option in reference.options("intervention")),
    ["intervention=[construct,freeze_embedding,perturb]"],
]


def test_the_committed_references_are_a_fresh_generation():
    assert (DOCS / "config.md").read_text() == reference.config_reference(), REGENERATE
    assert (DOCS / "metrics.md").read_text() == reference.metrics_reference(), REGENERATE


def documented_config_keys() -> set[str]:
    """The keys of the rows of the committed config reference."""
    return set(re.findall(r"^\| `([^`]+)` \|", (DOCS / "config.md").read_text(), re.MULTILINE))


@pytest.mark.parametrize("overrides", CONFIGS, ids=" ".join)
def test_every_key_of_a_composed_config_is_in_the_config_reference(overrides):
    keys = reference.leaves(reference.plain(compose(overrides)))
    assert len(keys) > 40
    assert sorted(set(keys) - documented_config_keys()) == []


def test_every_schema_field_has_a_meaning_and_the_reference_says_it():
    text = (DOCS / "config.md").read_text()
    row = re.search(r"^\| `task.frac_train` \| float \| `0.4` \| \(0, 1\) \| (.+) \|$", text, re.MULTILINE)
    assert row and "training split" in row.group(1)
    assert re.search(r"^\| `model.act` \| str \| `relu` \| `relu`, `silu`, `gelu` \|", text, re.MULTILINE)
    assert "| `pizza_a` | `combine=sum`, `d_embed=256`" in text  # the options of a schema with what they change


# ------------------------------------------------------------------------------------------- keys of real runs

#: Short runs with every metric family that applies switched on, together logging every family's keys: addition
#: mod 23 on an MLP (+ the ablation's ``ablated/...`` in evaluation), S_4 composition, a transformer.
RUNS = {
    "modular": ["experiment=tiny_modular", "max_epochs=20", "metrics.every_n_epochs=10", "metrics.pizza.enabled=true",
                "metrics.pizza.gs_samples=20", "metrics.circles.enabled=true", "metrics.rep.enabled=true",
                "intervention=ablate", "intervention.ablate.when=eval"],
    "composition": ["experiment=tiny_composition", "max_epochs=20", "metrics.every_n_epochs=10"],
    "transformer": ["experiment=tiny_transformer", "max_epochs=10", "metrics.every_n_epochs=10"],
}


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> dict[str, tuple[Path, set[str], set[str]]]:
    """Run name -> (its run dir, the scalar keys of its metrics.csv, the array keys of its arrays/*.npz)."""
    out = {}
    for name, overrides in RUNS.items():
        run_dir = tmp_path_factory.mktemp(name)
        train(run_dir, *overrides, "plots=true")
        with open(run_dir / "metrics.csv") as f:
            scalars = set(next(csv.reader(f)))
        arrays = set()
        for path in (run_dir / "arrays").glob("*.npz"):
            with np.load(path) as data:
                arrays |= {f"{path.stem}/{key}" for key in data.files if key != "epochs"}
        out[name] = run_dir, scalars, arrays
    return out


def test_every_logged_key_is_declared_in_the_metric_reference(logged):
    scalars = set().union(*(s for _, s, _ in logged.values()))
    arrays = set().union(*(a for _, _, a in logged.values()))
    for family in ("weights/", "fourier/", "progress/", "rep/", "pizza/", "circles/", "ablated/"):
        assert any(key.startswith(family) for key in scalars), family  # every family ran
    assert reference.undeclared(scalars, reference.declared("scalar")) == []
    assert reference.undeclared(arrays, reference.declared("array")) == []
    text = (DOCS / "metrics.md").read_text()
    assert all(f"### `{key.name}`" in text for key in reference.declared())


def test_a_key_without_its_declaration_is_found(logged):
    _, scalars, arrays = logged["modular"]
    keys = reference.declared("scalar")
    assert reference.undeclared(scalars, [k for k in keys if k.name != "progress/restricted_loss"]) == [
        "progress/restricted_loss"]
    missing = reference.undeclared(scalars, [k for k in keys if k.name != "progress/excluded_loss/freq_{k}"])
    assert missing and all(key.startswith("progress/excluded_loss/freq_") for key in missing)
    assert reference.undeclared(arrays, [k for k in reference.declared("array") if k.name != "fourier/W_E_power"]) \
        == ["fourier/W_E_power"]


def test_the_plot_of_a_logged_key_is_drawn(logged):
    for run_dir, scalars, arrays in logged.values():
        for key in reference.declared():
            if key.plot and any(key.matches(k) for k in scalars | arrays):
                assert (run_dir / key.plot).is_file(), (key.name, key.plot)
