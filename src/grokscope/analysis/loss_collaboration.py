"""Loss collaboration of circles (circle_survival.md §6.6): a model evaluated on all pairs with its embedding
restricted to the constant, a base set of frequencies (the run's circles) and one more frequency ``i``; over the
snapshots of a run, as a table, a plot and a one-paragraph verdict.

For each snapshot epoch the snapshot's model is evaluated on all ``p^2`` pairs with ``W_E`` restricted to DC plus
``{i}``, ``{c, i}`` and ``{c, c', i}`` for ``i = 1..K``, where ``c, c'`` are the run's two strongest final circles
(``arrays/circles.npz``: final ``is_circle`` of operand ``a``'s rows of ``W_E``, ordered by final signal). The
claim to check: circles collaborate, i.e. keeping ``{c, c'}`` gives a lower loss than keeping either alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf
from torch.func import functional_call

from grokscope.analysis.collect import run_config
from grokscope.analysis.survival import final_circles
from grokscope.config import require
from grokscope.figures import figure, png_bytes
from grokscope.groups.fourier import max_frequency
from grokscope.groups.spectral import apply_filter, fourier_filter
from grokscope.run import build
from grokscope.run.config import validate
from grokscope.training.outputs import atomic_write_bytes


@torch.no_grad()
def restricted_scores(model, task, freqs: list[int], dc: bool = True) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over every row of ``task`` with each operand table of ``W_E`` replaced by
    ``E' = Re IDFT(F 1[k in {0} u S u -S])`` (without ``{0}`` when ``dc`` is false); the model is unchanged."""
    gain = dict.fromkeys(freqs, 1.0) | {0: 1.0 if dc else 0.0}
    filt = fourier_filter(task.modulus, gain, 0.0, model.W_E.dtype, model.W_E.device)
    rows = model.operand_table_rows(task)
    W_E = model.W_E.detach().clone()
    W_E[rows] = apply_filter(filt, W_E[rows])
    logits = functional_call(model, {"W_E": W_E}, (task.tokens,))
    loss = torch.nn.functional.cross_entropy(logits.double(), task.labels)
    # the exact share in float64: torchmetrics' accuracy returns float32, up to 1e-7 off
    return float(loss), float((logits.argmax(-1) == task.labels).double().mean())


def loss_collaboration(model, task, base: list[int]) -> np.ndarray:
    """``[K, 2]``: loss and accuracy of :func:`restricted_scores` on ``{0} u base u {i}`` for ``i = 1..K``
    (``base`` = [], [c] or [c, c'] gives the paper's sets ``{i}``, ``{c, i}``, ``{c, c', i}``)."""
    k_max = max_frequency(task.modulus)
    return np.array([restricted_scores(model, task, sorted(set(base) | {i})) for i in range(1, k_max + 1)])


def base_name(base: list[int]) -> str:
    """The ``base`` column of a collaboration table: ``none``, ``7`` or ``7+13``."""
    return "+".join(map(str, base)) or "none"


def collaboration_rows(model, task, epoch: int, circles: list[int]) -> list[dict]:
    """Rows ``epoch, base, freq, loss, acc`` of :func:`loss_collaboration` for the bases ``[]``, ``[c]``,
    ``[c, c']`` (``circles`` strongest first; as many bases as circles allow, at most three)."""
    rows = []
    for n in range(min(len(circles), 2) + 1):
        scores = loss_collaboration(model, task, circles[:n])
        rows += [{"epoch": epoch, "base": base_name(circles[:n]), "freq": i, "loss": loss, "acc": acc}
                 for i, (loss, acc) in enumerate(scores.tolist(), start=1)]
    return rows


def collaboration_sets(circles: list[int]) -> dict[str, tuple[str, int]]:
    """Label ``{c}``, ``{c'}``, ``{c,c'}`` -> ``(base, freq)`` of the row that keeps exactly that set with DC
    (``{c}`` is base ``none`` at ``i = c``; ``{c,c'}`` is base ``c`` at ``i = c'``)."""
    sets = {f"{{{c}}}": ("none", c) for c in circles[:2]}
    if len(circles) >= 2:
        sets[f"{{{circles[0]},{circles[1]}}}"] = (base_name(circles[:1]), circles[1])
    return sets


def snapshots(run_dir: Path) -> dict[int, Path]:
    """``epoch -> snapshots/epoch=<epoch>.pt`` of a run, by epoch."""
    found = {int(m.group(1)): path for path in (run_dir / "snapshots").glob("epoch=*.pt")
             if (m := re.fullmatch(r"epoch=(\d+)\.pt", path.name))}
    return dict(sorted(found.items()))


def task_and_model(run_dir: Path):
    """``(task, model)`` of a run rebuilt from its config (``summary.json``'s, else ``.hydra/config.yaml``) by
    :func:`grokscope.run.build`; load a snapshot with ``model.load_state_dict``."""
    return build(validate(OmegaConf.create(run_config(run_dir))))


def collaboration_table(run_dir: Path, circles: list[int], every: int | None = None) -> pd.DataFrame:
    """Columns ``epoch, base, freq, loss, acc``: ``K`` rows per base set per snapshot epoch (every snapshot, or
    those at multiples of ``every`` and the last)."""
    task, model = task_and_model(run_dir)
    snaps = snapshots(run_dir)
    last = max(snaps)
    rows = []
    for epoch, path in snaps.items():
        if every is None or epoch % every == 0 or epoch == last:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            rows += collaboration_rows(model, task, epoch, circles)
    return pd.DataFrame(rows, columns=["epoch", "base", "freq", "loss", "acc"])


def set_losses(table: pd.DataFrame, circles: list[int]) -> pd.DataFrame:
    """``epoch x {c}, {c'}, {c,c'}``: the loss with DC and exactly that set kept."""
    columns = {}
    for label, (base, freq) in collaboration_sets(circles).items():
        rows = table[(table["base"] == base) & (table["freq"] == freq)]
        columns[label] = rows.set_index("epoch")["loss"]
    return pd.DataFrame(columns)


def verdict(table: pd.DataFrame, circles: list[int]) -> str:
    """One paragraph: the losses of the circles alone and together at the last snapshot, whether the pair beats
    each alone (the paper's "circles collaborate"), at how many snapshot epochs, and the best partner of ``c``."""
    epochs = sorted(table["epoch"].unique())
    end = epochs[-1]
    head = (f"Loss collaboration (circle_survival.md §6.6) over {len(epochs)} snapshot epochs "
            f"({epochs[0]}..{end}); final circles, strongest first: {circles or 'none'}.")
    if not circles:
        return f"{head} Without a circle there is nothing to collaborate."
    last = table[table["epoch"] == end]
    partners = last[(last["base"] == str(circles[0])) & (last["freq"] != circles[0])]
    best = partners.loc[partners["loss"].idxmin()]
    partner = f" The best partner of {circles[0]} is i = {int(best['freq'])} (loss {best['loss']:.4g})."
    losses = set_losses(table, circles)
    alone = ", ".join(f"{label} {losses.loc[end, label]:.4g}" for label in losses.columns[: len(circles[:2])])
    if len(circles) < 2:
        return f"{head} At epoch {end}, all-pairs loss keeping DC and {alone} (one circle: no pair).{partner}"
    pair = losses.columns[2]
    wins = losses[pair] < losses.iloc[:, :2].min(axis=1)
    outcome = "collaborate" if wins.loc[end] else "do NOT collaborate"
    return (f"{head} At epoch {end}, all-pairs loss keeping DC and {alone}; {pair} together "
            f"{losses.loc[end, pair]:.4g}: the circles {outcome} at the end (the pair's loss is below each "
            f"alone's at {int(wins.sum())} of {len(wins)} snapshot epochs).{partner}")


def checked_run(run_dir: Path) -> list[int]:
    """The final circles of ``run_dir``, strongest first; :class:`~grokscope.config.ConfigError` naming
    ``run_dir`` when it lacks snapshots, circle signals or its config."""
    require(bool(snapshots(run_dir)), "run_dir", str(run_dir), "must hold snapshots/epoch=N.pt (train with "
            "snapshot_every_n_epochs=N)")
    require((run_dir / "arrays" / "circles.npz").exists(), "run_dir", str(run_dir), "must hold arrays/circles.npz "
            "(train with metrics.circles.enabled=true)")
    require((run_dir / "summary.json").exists() or (run_dir / ".hydra" / "config.yaml").exists(), "run_dir",
            str(run_dir), "must hold the run's config (summary.json or .hydra/config.yaml)")
    return final_circles(run_dir)


def plot_loss_collaboration(table: pd.DataFrame, circles: list[int], path: Path) -> None:
    """Left: all-pairs loss against the added frequency ``i`` for each base set at the last snapshot epoch. Right:
    over snapshot epochs, the loss with ``{0} u S`` kept for ``S`` = each circle alone and both circles together
    (the rows of base ``{}`` at ``i = c`` and of base ``{c}`` at ``i = c'``; circle_survival.md §6.6)."""
    last = table[table["epoch"] == table["epoch"].max()]
    fig, (ax_i, ax_t) = figure((12, 4.5), 1, 2)
    for base, rows in last.groupby("base", sort=False):
        label = "{i}" if base == "none" else f"{{{base.replace('+', ',')}, i}}"
        ax_i.plot(rows["freq"], rows["loss"], marker="o", ms=3, label=label)
    ax_i.set(xlabel="added frequency i", ylabel="all-pairs loss", yscale="log",
             title=f"epoch {int(last['epoch'].iloc[0])}: DC + base + i")
    ax_i.legend(fontsize="small")
    for label, (base, freq) in collaboration_sets(circles).items():
        rows = table[(table["base"] == base) & (table["freq"] == freq)]
        ax_t.plot(rows["epoch"], rows["loss"], marker="o", ms=3, lw=2 if "," in label else 1, label=label)
    ax_t.set(xlabel="epoch", ylabel="all-pairs loss", yscale="log", title="circles alone and together")
    if circles:
        ax_t.legend(fontsize="small")
    for ax in (ax_i, ax_t):
        ax.grid(alpha=0.3)
    atomic_write_bytes(path, png_bytes(fig))
