"""A ``model=transformer`` as a TransformerLens model (the optional extra ``tl``: ``pip install 'grokscope[tl]'``).

TransformerLens 4 replaced ``HookedTransformer`` by ``TransformerBridge``; its TL-native bridge
(``TransformerBridge.boot_native``) is the same architecture, and its ``convert_tl_checkpoint`` reads state
dicts in ``HookedTransformer``'s naming, which :class:`~grokscope.models.transformer.Transformer` already
uses except for the top-level ``W_E``, ``W_pos``, ``W_U``, ``b_U`` (``embed.W_E``, ... there). Biases the
model was built without are zeros in the bridge. What TransformerLens cannot express is refused in one line.

    bridge = run.model().to_transformer_lens()
    logits, cache = bridge.run_with_cache(run.task.tokens)   # logits[:, -1] are the model's logits
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import torch

from grokscope.config import ConfigError, require
from grokscope.models.transformer import Transformer

#: our top-level parameter -> its ``HookedTransformer`` name
HOOKED_NAMES = {"W_E": "embed.W_E", "W_pos": "pos_embed.W_pos", "W_U": "unembed.W_U", "b_U": "unembed.b_U"}
MIN_VERSION = 4


def to_transformer_lens(model: Transformer):
    """A ``transformer_lens.TransformerBridge`` with ``model``'s weights, dtype and device: its logits at the
    last position are ``model``'s logits."""
    check_convertible(model)
    from transformer_lens import TransformerBridge
    from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint

    cfg = bridge_config(model)
    bridge = TransformerBridge.boot_native(cfg, device=model.W_E.device, dtype=model.W_E.dtype)
    state = convert_tl_checkpoint(hooked_state_dict(model), cfg)
    absent = {k: torch.zeros_like(v) for k, v in bridge.state_dict().items() if k not in state}
    require(all(k.endswith(".bias") for k in absent), "model", model.cfg.name,
            f"the TransformerLens bridge expects parameters this model lacks: {', '.join(sorted(absent))}")
    bridge.load_state_dict(state | absent, strict=True)
    return bridge.eval()


def check_convertible(model) -> None:
    """One-line refusals: not a ``model=transformer``, an option TransformerLens lacks, no TransformerLens 4."""
    require(isinstance(model, Transformer), "model", type(model).__name__,
            "only model=transformer converts to TransformerLens")
    rate = model.cfg.attention_rate
    require(rate == 1.0, "model.attention_rate", rate,
            "TransformerLens has no attention rate: only 1.0 (ordinary softmax attention) converts")
    try:
        installed = version("transformer_lens")
    except PackageNotFoundError:
        raise ConfigError("transformer_lens", None, "not installed: pip install 'grokscope[tl]'") from None
    require(int(installed.split(".")[0]) >= MIN_VERSION, "transformer_lens", installed,
            f"needs TransformerLens >= {MIN_VERSION} (its TransformerBridge): pip install 'grokscope[tl]'")


def bridge_config(model: Transformer):
    """The ``TransformerBridgeConfig`` of ``model``'s architecture (weights are loaded afterwards)."""
    from transformer_lens import TransformerBridgeConfig

    c = model.cfg
    (d_vocab, d_model), n_ctx, d_vocab_out = model.W_E.shape, model.W_pos.shape[0], model.W_U.shape[1]
    return TransformerBridgeConfig(
        d_model=d_model, d_head=c.d_head, n_heads=c.n_heads, n_layers=c.n_layers, n_ctx=n_ctx, d_mlp=c.d_mlp,
        d_vocab=d_vocab, d_vocab_out=d_vocab_out, act_fn=c.act, attn_only=c.attn_only,
        normalization_type="LN" if c.layer_norm else None, attention_dir="causal" if c.causal else "bidirectional",
        positional_embedding_type="standard", default_prepend_bos=False, init_weights=False,
        dtype=model.W_E.dtype, device=str(model.W_E.device),
    )


def hooked_state_dict(model: Transformer) -> dict[str, torch.Tensor]:
    """``model``'s parameters under ``HookedTransformer``'s names (its blocks' names are already those)."""
    return {HOOKED_NAMES.get(k, k): v for k, v in model.state_dict().items()}
