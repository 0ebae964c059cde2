"""Hand-made run dirs holding an ``arrays/circles.npz`` as ``metrics.circles.enabled=true`` writes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grokscope.training.outputs import ArrayStore


def fake_circle_run(run_dir: Path, signal, is_circle=None, epochs=None, d_embed: int = 8) -> None:
    """A run dir with ``signal [n_epochs, K]`` (``s_1 .. s_K`` of operand ``a``; DC 0) and ``is_circle
    [n_epochs, K]`` (default all false) at ``epochs`` (default ``0, 1, 2, ...``), and a config with ``d_embed``."""
    signal = np.asarray(signal, dtype=np.float64)
    is_circle = np.zeros(signal.shape, bool) if is_circle is None else np.asarray(is_circle, bool)
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(f"seed: 0\nmodel:\n  d_embed: {d_embed}\n")
    store = ArrayStore(run_dir / "arrays")
    for epoch, s, c in zip(range(len(signal)) if epochs is None else epochs, signal, is_circle):
        store.append("circles/signal", int(epoch), np.concatenate([[0.0], s])[None])  # [n_tables, K + 1]
        store.append("circles/is_circle", int(epoch), c[None])  # [n_tables, K]
    store.save()
