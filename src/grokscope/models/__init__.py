"""Models: ``tokens -> logits`` at the answer position, with ``W_E``, ``W_U`` and TransformerLens hook names."""

from grokscope.models import mlp, transformer
from grokscope.models.base import GrokModel
from grokscope.models.hooks import HookPoint, hook_names, run_with_cache

#: ``model=<name>`` -> its schema
SCHEMAS = {"mlp": mlp.MLPConfig, "transformer": transformer.TransformerConfig}

__all__ = ["SCHEMAS", "GrokModel", "HookPoint", "hook_names", "mlp", "run_with_cache", "transformer"]
