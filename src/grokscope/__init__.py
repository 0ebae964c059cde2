"""grokscope: Hydra + Lightning experiments on networks that learn algorithmic tasks.

``grokscope.load_run(path)`` reads a run directory back (:mod:`grokscope.run.load`); it is imported on first
use, so that ``import grokscope`` stays light.
"""

__version__ = "0.1.0"
__all__ = ["load_run"]


def __getattr__(name: str):
    if name == "load_run":
        from grokscope.run.load import load_run

        return load_run
    raise AttributeError(f"module 'grokscope' has no attribute {name!r}")
