"""grokscope: Hydra + Lightning experiments on networks that learn algorithmic tasks."""

__version__ = "0.1.0"
