"""Models: shapes, hook points, combine modes, causal attention, init scales."""

from __future__ import annotations

import math

import pytest
import torch

from grokscope.models import hook_names, run_with_cache
from grokscope.run import build
from grokscope.run.config import validate
from tests.helpers.config import make_config


def built(*overrides: str):
    return build(validate(make_config("task.p=11", *overrides)))


@pytest.mark.parametrize("combine", ["concat", "sum", "sum_separate"])
def test_mlp_combine(combine):
    task, model = built(f"model.combine={combine}", "model.hidden=[16,8]")
    logits, cache = run_with_cache(model, task.tokens, ["hook_embed", "hook_hidden", "layers.0.hook_post"])
    assert logits.shape == (121, 11)
    assert cache["hook_embed"].shape == (121, 2, 32) and cache["hook_hidden"].shape == (121, 8)
    emb = model.operand_embeddings(task.operand_tokens)
    assert emb.shape == (2, 11, 32)
    assert torch.equal(emb[0], emb[1]) == (combine != "sum_separate")


@pytest.mark.parametrize(("overrides", "n_tables"), [
    (("model.combine=sum",), 1), (("model.combine=concat_separate",), 2),
    (("model=transformer", "model.d_model=16", "model.n_heads=2", "model.d_head=8", "model.d_mlp=32"), 1)])
def test_operand_tables_hold_each_distinct_table_once(overrides, n_tables):
    """Operands that share their rows of ``W_E`` give one table; separate tables (``b`` after ``a``) two."""
    task, model = built(*overrides)
    rows = model.operand_table_rows(task)
    assert rows.shape == (n_tables, 11)
    assert rows.unique().numel() == n_tables * 11
    tables = model.operand_tables(task)
    emb = model.operand_embeddings(task.operand_tokens)  # [n_operands, 11, d]
    assert torch.equal(tables, emb[:n_tables])
    assert torch.equal(tables[-1], emb[-1])


def test_mlp_sum_is_symmetric_in_operands():
    task, model = built("model.combine=sum")
    swapped = task.tokens.clone()
    swapped[:, [0, 1]] = swapped[:, [1, 0]]
    assert torch.allclose(model(task.tokens), model(swapped))


def test_transformer_hooks_and_causality():
    task, model = built("model=transformer", "model.d_model=16", "model.n_heads=2", "model.d_head=8",
                        "model.d_mlp=32")
    names = hook_names(model)
    for name in ("hook_embed", "blocks.0.attn.hook_pattern", "blocks.0.mlp.hook_post", "blocks.0.hook_resid_post"):
        assert name in names
    _, cache = run_with_cache(model, task.tokens, ["blocks.0.attn.hook_pattern", "blocks.0.hook_resid_post"])
    pattern = cache["blocks.0.attn.hook_pattern"]
    assert pattern.shape == (121, 2, 3, 3)
    assert torch.all(pattern.triu(diagonal=1) == 0)
    changed = task.tokens.clone()
    changed[:, 1] = (changed[:, 1] + 1) % 11
    _, cache2 = run_with_cache(model, changed, ["blocks.0.hook_resid_post"])
    resid, resid2 = cache["blocks.0.hook_resid_post"], cache2["blocks.0.hook_resid_post"]
    assert torch.allclose(resid[:, 0], resid2[:, 0]) and not torch.allclose(resid[:, 1], resid2[:, 1])


def test_nanda_init_scales_and_vocab_out():
    task, model = build(validate(make_config("experiment=nanda_2023")))
    assert model.W_U.shape == (128, 114)  # d_vocab_out = p + 1 as in the original
    assert model(task.tokens[:5]).shape == (5, 114)
    assert abs(model.blocks[0].mlp.W_in.std().item() - 1 / math.sqrt(128)) < 0.005
    assert abs(model.W_U.std().item() - 1 / math.sqrt(114)) < 0.005
    assert sum(p.numel() for p in model.parameters()) == 226_816


def test_freeze_biases():
    _, model = built("model=transformer", "model.freeze_biases=true")
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(n.rsplit(".", 1)[-1].startswith("b_") for n in frozen)


def test_embedding_seed_is_independent_of_model_seed():
    _, a = built("seeds.model=1", "seeds.embedding=7")
    _, b = built("seeds.model=2", "seeds.embedding=7")
    _, c = built("seeds.model=1", "seeds.embedding=8")
    assert torch.equal(a.W_E, b.W_E) and not torch.equal(a.W_U, b.W_U)
    assert not torch.equal(a.W_E, c.W_E) and torch.equal(a.W_U, c.W_U)


@pytest.mark.parametrize("extra", [(), ("model.n_layers=2", "model.layer_norm=true", "model.causal=false",
                                        "model.attn_bias=true")])
def test_last_position_forward_equals_full_forward(extra):
    """The training fast path (speed.md §4) gives the full forward's logits, loss and gradients."""
    task, model = built("model=transformer", "model.d_model=16", "model.n_heads=2", "model.d_head=8",
                        "model.d_mlp=32", "task.equals_token=true", *extra)
    model = model.double()

    def loss_and_grads(last_only: bool):
        model.zero_grad()
        logits = model(task.tokens, last_only=last_only)
        loss = torch.nn.functional.cross_entropy(logits, task.labels)
        loss.backward()
        return logits.detach(), loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    full, fast = loss_and_grads(False), loss_and_grads(True)
    assert torch.allclose(full[0], fast[0], rtol=0, atol=1e-12)
    assert torch.allclose(full[1], fast[1], rtol=0, atol=1e-12)
    assert len(full[2]) == len(fast[2])
    for g_full, g_fast in zip(full[2], fast[2]):
        assert torch.allclose(g_full, g_fast, rtol=0, atol=1e-12)
