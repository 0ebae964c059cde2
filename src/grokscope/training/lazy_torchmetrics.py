"""Import ``torchmetrics`` on demand: Lightning needs only its ``Metric`` and ``MetricCollection`` classes.

``import lightning`` imports ``torchmetrics``, whose ``__init__`` imports every metric and, through them, scipy,
transformers (when installed) and matplotlib's pyplot: about half the fixed cost of a one-epoch run, none of it
used by a run. :func:`install` (called by :mod:`grokscope.training` before Lightning loads) makes a first
``import torchmetrics`` set up only what its submodules need at import (``__version__``, the logger, the package
paths) and serve ``Metric`` and ``MetricCollection`` from their own modules; any other attribute (``torchmetrics.
Accuracy``, ``from torchmetrics import functional``) runs the package's own ``__init__`` first, so code that uses
torchmetrics gets the complete package. Submodules (``torchmetrics.functional``) import as always. Where
torchmetrics was imported already, nothing changes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
from types import ModuleType

NAME = "torchmetrics"


class _Loader(importlib.abc.Loader):
    """Runs a light ``__init__`` and defers the package's own to the first other attribute looked up."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec):
        return None

    def exec_module(self, module: ModuleType) -> None:
        from torchmetrics.__about__ import __version__  # a submodule of nothing but strings

        module.__version__ = __version__
        module._PACKAGE_ROOT = os.path.dirname(module.__file__)
        module._PROJECT_ROOT = os.path.dirname(module._PACKAGE_ROOT)
        log = module._logger = logging.getLogger(NAME)  # as torchmetrics' __init__ sets it up
        handler = logging.StreamHandler()
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        real = self.real

        def __getattr__(name: str):
            if name == "Metric":
                import torchmetrics.utilities  # noqa: F401  (the import order torchmetrics' own __init__ has)
                from torchmetrics.metric import Metric

                return Metric
            if name == "MetricCollection":
                import torchmetrics.utilities  # noqa: F401
                from torchmetrics.collections import MetricCollection

                return MetricCollection
            if name.startswith("__"):
                raise AttributeError(f"module {NAME!r} has no attribute {name!r}")
            del module.__getattr__
            real.exec_module(module)  # the whole package, as a plain import gives it
            log.removeHandler(handler)  # its __init__ added its own
            return getattr(module, name)

        module.__getattr__ = __getattr__


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != NAME:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    """Defer ``torchmetrics``' ``__init__`` (once per process; nothing if it is imported already)."""
    if NAME in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
