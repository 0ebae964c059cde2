"""``to_transformer_lens()``: a ``model=transformer`` as TransformerLens's model, with equal logits on the whole
table; what TransformerLens cannot express is refused in one line (these refusals need no TransformerLens)."""

from __future__ import annotations

import pytest
import torch

import grokscope
from grokscope.config import ConfigError
from grokscope.models.tl import check_convertible
from grokscope.run import build
from grokscope.run.config import validate
from tests.helpers.config import make_config
from tests.helpers.runs import train


def built(*overrides: str, experiment: str = "tiny_transformer"):
    return build(validate(make_config(f"experiment={experiment}", *overrides)))


@pytest.mark.parametrize("experiment, overrides, key", [
    ("tiny_transformer", ("model.attention_rate=0.5",), "model.attention_rate"),
    ("tiny_modular", (), "model"),  # an MLP
])
def test_what_transformer_lens_cannot_express_is_refused_in_one_line(experiment, overrides, key):
    _, model = built(*overrides, experiment=experiment)
    with pytest.raises(ConfigError) as err:
        check_convertible(model)
    assert err.value.key == key and "\n" not in str(err.value)


def test_exporting_an_mlp_is_a_one_line_refusal_not_an_attribute_error():
    _, model = built(experiment="tiny_modular")
    with pytest.raises(ConfigError) as err:
        model.to_transformer_lens()
    assert err.value.key == "model" and "model=transformer" in str(err.value) and "\n" not in str(err.value)


def assert_equal_logits(model, task) -> None:
    """The converted model's logits at the answer position equal ``model``'s on every row (float32 rounding)."""
    bridge = model.to_transformer_lens()
    with torch.no_grad():
        ours, theirs = model(task.tokens), bridge(task.tokens)[:, -1]
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)
    assert torch.equal(theirs.argmax(-1), ours.argmax(-1))


def test_a_trained_transformer_converts_with_equal_logits_on_the_whole_table(tmp_path):
    pytest.importorskip("transformer_lens")
    train(tmp_path, "experiment=tiny_transformer", "max_epochs=20")
    run = grokscope.load_run(tmp_path)
    assert_equal_logits(run.model(), run.task)


@pytest.mark.parametrize("overrides", [
    ("model.layer_norm=true", "model.attn_bias=true", "model.act=gelu"),
    ("model.layer_norm=true", "model.attn_only=true", "model.n_layers=2", "model.init=tl"),
    ("model=pizza_transformer", "model.d_model=16", "model.act=silu"),  # bidirectional, logits over the vocab
])
def test_model_options_convert_with_equal_logits(overrides):
    pytest.importorskip("transformer_lens")
    task, model = built(*overrides)
    assert_equal_logits(model, task)
