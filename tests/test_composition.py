"""The ``group`` config group and ``task=composition``: labels, equality with modular addition, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grokscope.groups import cyclic, dihedral, product, symmetric
from grokscope.groups.families import permutations_of
from grokscope.run import build
from grokscope.run.config import validate
from tests.helpers.cli import cli
from tests.helpers.config import assert_config_error, make_config


def built(*overrides: str):
    return build(validate(make_config("task=composition", *overrides)))


@pytest.mark.parametrize("form", ["ab", "ab_inv", "aba_inv"])
def test_composition_labels_are_permutation_products(form):
    task, _ = built("group=symmetric", "group.n=4", f"task.form={form}")
    perms = permutations_of(symmetric(4))  # one-line notation; (x ∘ y)(k) = y(x(k))
    a, b = (perms[x] for x in task.operands.T.numpy())
    inverse_b = np.argsort(b, axis=1)
    expected = {
        "ab": np.take_along_axis(b, a, axis=1),
        "ab_inv": np.take_along_axis(inverse_b, a, axis=1),
        "aba_inv": np.take_along_axis(np.argsort(a, axis=1), np.take_along_axis(b, a, axis=1), axis=1),
    }[form]
    assert np.array_equal(perms[task.labels.numpy()], expected)
    assert task.tokens.shape == (576, 3) and task.d_vocab == 25 and task.n_classes == 24
    assert task.modulus is None and task.group == symmetric(4)


def test_cyclic_composition_is_modular_addition():
    comp, comp_model = built("group=cyclic", "group.n=31", "task.frac_train=0.3")
    mod, mod_model = build(validate(make_config("task.p=31", "task.frac_train=0.3")))
    for field in ("tokens", "labels", "operands", "operand_tokens"):
        assert torch.equal(getattr(comp, field), getattr(mod, field)), field
    assert torch.equal(comp.masks["train"], mod.masks["train"])
    assert (comp.d_vocab, comp.n_classes, comp.modulus, comp.group) == (mod.d_vocab, mod.n_classes, 31, mod.group)
    assert comp.token_names == mod.token_names
    assert all(torch.equal(x, y) for x, y in zip(comp_model.parameters(), mod_model.parameters()))


def test_group_options_build_their_groups():
    assert built("group=dihedral", "group.n=5")[0].group == dihedral(5)
    task, _ = built("group=product")
    assert task.group == product(cyclic(3), symmetric(3))
    assert task.n_classes == 18 and task.modulus is None


BAD = [
    (["group=symmetric", "group.n=8"], "group.n"),  # |S_8| = 40320: |G|² > 10⁹
    (["group=cyclic", "group.n=20000"], "group.n"),
    (["group=cyclic", "group.n=0"], "group.n"),
    (["group=alternating", "group.n=2"], "group.n"),
    (["group=dihedral", "group.n=2"], "group.n"),
    (["group=symmetric", "group.n=1000000000"], "group.n"),
    (["group=product", "group.factors.0.n=1000"], "group.factors"),
    (["group=product", "group.factors.1.name=klein"], "group.factors.1.name"),
    (["~group"], "group"),
    (["task.form=ba"], "task.form"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD)
def test_bad_group_names_the_key(overrides, key):
    assert_config_error(key, "task=composition", *overrides)


def test_group_is_optional_for_other_tasks():
    assert validate(make_config("~group")).group is None


def test_cli_group_too_large_is_one_line(tmp_path):
    proc = cli("task=composition", "group=symmetric", "group.n=9", "logger=csv", cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("grokscope-train: error: group.n=9:") and "too large" in lines[0]
    assert not list(tmp_path.rglob("metrics.csv"))
