"""The modular task: labels, token layout, splits; the operation names every task shares."""

from __future__ import annotations

import pytest
import torch

from grokscope.config import ConfigError
from grokscope.run.config import validate
from grokscope.tasks.modular import OPS
from tests.helpers.config import make_config

EXPECTED = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "div": lambda a, b, p: (a * pow(b, -1, p)) % p,
    "x2+y2": lambda a, b, p: (a**2 + b**2) % p,
    "x2+xy+y2": lambda a, b, p: (a**2 + a * b + b**2) % p,
    "x3+xy": lambda a, b, p: (a**3 + a * b) % p,
}


def task(*overrides: str, seed: int = 0):
    return validate(make_config(*overrides)).task.build(seed)


@pytest.mark.parametrize("op", list(OPS))
def test_labels_match_python(op):
    t = task(f"task.op={op}", "task.p=13")
    for (a, b), c in zip(t.operands.tolist(), t.labels.tolist()):
        assert c == EXPECTED[op](a, b, 13)
    assert len(t.labels) == (13 * 12 if op == "div" else 169)


def test_token_layout_and_vocab():
    t = task("task.p=7")
    assert t.tokens.shape == (49, 3) and t.d_vocab == 8 and t.n_classes == 7
    assert t.tokens[7 * 3 + 5].tolist() == [3, 5, 7]
    t = task("task.p=7", "task.separate_operand_vocab=true", "task.equals_token=false")
    assert t.tokens.shape == (49, 2) and t.d_vocab == 14
    assert t.tokens[7 * 3 + 5].tolist() == [3, 12]
    assert t.operand_tokens.tolist() == [list(range(7)), list(range(7, 14))]


def test_split_from_data_seed():
    a, b, c = task(seed=0), task(seed=0), task(seed=1)
    assert torch.equal(a.masks["train"], b.masks["train"])
    assert not torch.equal(a.masks["train"], c.masks["train"])
    assert int(a.masks["train"].sum()) == int(0.4 * 97 * 97)
    assert not (a.masks["train"] & a.masks["test"]).any() and (a.masks["train"] | a.masks["test"]).all()


@pytest.mark.parametrize("task_name, old, new", [("modular", "sum", "add"), ("modular", "ssq", "x2+y2"),
                                                 ("oocl", "ssq", "x2+y2"), ("oocl", "sum", "add"),
                                                 ("oocl", "prod", "mul")])
def test_an_older_operation_spelling_composes_to_the_same_task(task_name, old, new):
    old_task, new_task = (task(f"task={task_name}", f"task.op={op}", "task.p=7") for op in (old, new))
    assert old_task.name == new_task.name == f"{task_name}_{new}_7"
    assert torch.equal(old_task.tokens, new_task.tokens) and torch.equal(old_task.labels, new_task.labels)


@pytest.mark.parametrize("task_name, allowed", [("modular", list(OPS)), ("oocl", ["x2+y2", "add", "mul"])])
def test_an_unknown_operation_is_one_line_listing_the_names(task_name, allowed):
    with pytest.raises(ConfigError) as err:
        validate(make_config(f"task={task_name}", "task.op=pow"))
    assert err.value.key == "task.op" and "\n" not in str(err.value)
    assert str(err.value).startswith(f"task.op='pow': must be one of {', '.join(allowed)} (older spellings: ")
