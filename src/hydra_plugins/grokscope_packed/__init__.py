"""grokscope's Hydra launcher for packed sweeps (``hydra/launcher=packed``): see :mod:`grokscope.cli.packing`."""
