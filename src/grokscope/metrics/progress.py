"""Nanda et al. 2023's progress measures for addition in ``Z_p`` (nanda_progress_measures.md §5).

The frequency-``k`` directions ``u^cos_k, u^sin_k`` of the input space are the xy-subspace of the cyclic
group's irrep ``freq_k`` (functions of ``c = a + b``), so the restricted and excluded losses reuse the class-sum
projections of :class:`~grokscope.groups.basis.GroupBasis`: ``ℓ^K_c[r] = (1/m) Σ_{k∈K} (Q_k Q_kᵀ M)[c_r]`` with
``M`` the class sums of the logits by output and ``m = p`` rows per output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from einops import einsum, rearrange

from grokscope.config import MetricKey, described, require
from grokscope.figures import Heatmap
from grokscope.groups.basis import group_basis
from grokscope.groups.fourier import fourier_basis, max_frequency
from grokscope.metrics.class_sums import add_class_sums, row_chunks
from grokscope.metrics.cross_entropy import ShiftedLosses, table_loss
from grokscope.metrics.curves import restricted_losses_figure
from grokscope.metrics.evaluation import Chunk, Evaluation, Pass, Stream, Streamed
from grokscope.metrics.family import MetricFamily, MetricFamilyConfig, RunRecord


class FrequencyFractions:
    """``frac_n(k)`` (:func:`frequency_fractions`) accumulated over chunks of rows, from class sums.

    With ``F`` orthonormal, the entries of ``Â_n = F N̄_n Fᵀ`` in the block of frequency ``k`` are DFTs of class
    sums: row 0 and column 0 are ``(F S_b)_j / √p`` and ``(F S_a)_i / √p`` (``S_a[x] = Σ_{r: a_r = x} h_r``,
    likewise ``S_b``), and by ``cos x cos y = (cos(x+y) + cos(x-y))/2`` (and its sine forms) the four ``cos k``,
    ``sin k`` entries are sums and differences of ``(F S_s)`` and ``(F S_d)``, the class sums by
    ``s = (a + b) mod p`` and ``d = (a - b) mod p``. So ``Σ_{i,j ∈ block k} Â_n[i,j]² = (1/p) Σ_{X ∈ a,b,s,d}
    ((F S_X)_{cos k}² + (F S_X)_{sin k}²)`` (centring changes only ``Â_n[0,0]``, which is 0), and the total is
    ``Σ_r h_r² - (Σ_r h_r)² / N`` (Parseval). Memory: ``4 p d_hidden`` sums, not the ``p² d_hidden`` grid.
    """

    def __init__(self, p: int, d_hidden: int, device):
        self.p = p
        self.sums = torch.zeros(4, p, d_hidden, dtype=torch.float64, device=device)  # by a, b, a + b, a - b
        self.total = torch.zeros(d_hidden, dtype=torch.float64, device=device)
        self.sum_sq = torch.zeros(d_hidden, dtype=torch.float64, device=device)
        self.count = 0

    def add(self, hidden: torch.Tensor, operands: torch.Tensor) -> None:
        """Add the rows ``hidden [n, d_hidden]`` of the operand pairs ``operands [n, 2]``."""
        p, (a, b) = self.p, operands.T
        for sums, index in zip(self.sums, (a, b, (a + b) % p, (a - b) % p)):
            add_class_sums(sums, hidden, index)
        for rows in row_chunks(*hidden.shape):
            h = hidden[rows].double()
            self.total += h.sum(dim=0)
            self.sum_sq += h.pow(2).sum(dim=0)
        self.count += len(hidden)

    def fractions(self) -> torch.Tensor:
        """``[K, d_hidden]``: ``frac_n(k)``, ``k = 1..K`` (0 for dead neurons)."""
        p, n_freqs = self.p, max_frequency(self.p)
        coeffs = einsum(fourier_basis(p, torch.float64, self.sums.device), self.sums, "f x, s x n -> s f n")
        waves = rearrange(coeffs[:, 1 : 2 * n_freqs + 1], "s (k two) n -> s k two n", two=2)
        in_block = waves.pow(2).sum(dim=(0, 2)) / p  # [K, n]
        total = self.sum_sq - self.total.pow(2) / max(self.count, 1)
        return in_block / total.clamp_min(torch.finfo(total.dtype).tiny)


def frequency_fractions(hidden: torch.Tensor, operands: torch.Tensor, p: int) -> torch.Tensor:
    """``[K, d_hidden]``: ``frac_n(k)``, the share of neuron ``n``'s 2-D Fourier power in the block of frequency
    ``k`` (nanda_progress_measures.md §5.1), ``k = 1..⌈p/2⌉-1``.

    ``Â_n = F N̄_n Fᵀ`` with ``N̄_n`` the neuron's activations centred over inputs and reshaped to ``[p, p]`` by
    ``(a, b)``; ``frac_n(k) = Σ_{i,j ∈ {0, 2k-1, 2k}} Â_n[i,j]² / Σ_{i,j} Â_n[i,j]²`` (0 for dead neurons),
    computed from class sums (:class:`FrequencyFractions`).
    """
    fractions = FrequencyFractions(p, hidden.shape[1], hidden.device)
    fractions.add(hidden, operands)
    return fractions.fractions()


def neuron_frequencies(fractions: torch.Tensor) -> torch.Tensor:
    """Long ``[d_hidden]``: ``k_n = argmax_k frac_n(k)`` (1-based), 0 for dead neurons (§5.1 step 5)."""
    return torch.where(fractions.sum(dim=0) > 0, fractions.argmax(dim=0) + 1, 0)


def gini(x: torch.Tensor) -> torch.Tensor:
    """Gini coefficient of ``x ≥ 0``: ``Σ_i (2i - N - 1) x_(i) / (N Σ_i x_i)`` over ``x`` sorted ascending
    (nanda_progress_measures.md §5.4). 0 for equal entries, ``1 - 1/N`` for a single non-zero entry."""
    x = x.double().sort().values
    ranks = torch.arange(1, len(x) + 1, dtype=torch.float64, device=x.device)
    return ((2 * ranks - len(x) - 1) @ x) / (len(x) * x.sum())


def fourier_norms(values: torch.Tensor, p: int) -> torch.Tensor:
    """``[p]``: ``x_f = ||(F V)_f||_2`` for ``values [p, d]`` (norm over the second axis, §5.4)."""
    return (fourier_basis(p, dtype=torch.float64, device=values.device) @ values.double()).norm(dim=1)


def progress_tables(logit_sums: torch.Tensor, group, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(means + L^K [p, p], shifts [1 + |K|, p, p])`` from the class sums ``logit_sums [p, p]`` of the logits
    by label: the per-class means of the logits (the trivial irrep's xy part) plus the key frequencies' xy
    projections ``L^K``, and the tables removed for the excluded losses, ``L^K`` then each ``L^k`` of the key, as
    tables over the label (the module docstring; ``m = p`` rows per label). Two ``[R, p, p]`` arrays at most."""
    p = len(logit_sums)
    basis = group_basis(group, logit_sums.device)
    tables = basis.projections(logit_sums) / p  # [R, p, p], trivial first
    names = [f"freq_{k}" for k in (key.nonzero().squeeze(1) + 1).tolist()]  # the key frequencies only
    shifts = tables.new_empty(1 + len(names), p, p)
    shifts[1:] = tables[[basis.names.index(name) for name in names]]
    torch.sum(shifts[1:], dim=0, out=shifts[0])
    return tables[0] + shifts[0], shifts


def progress_losses(restricted: torch.Tensor, excluded_key: torch.Tensor, key: torch.Tensor,
                    test_loss: torch.Tensor) -> dict[str, float | np.ndarray]:
    """Restricted loss ``CE_all(L^res)`` (and ``CE_train``), ``L^res = L^K`` plus the per-class mean of the
    logits (§5.2: the trivial irrep's xy part); excluded loss ``CE_train(L - L^K)`` with all key frequencies
    ``K`` removed at once (§5.3), and with each key frequency alone (NaN for the other frequencies):
    ``restricted [all inputs, train inputs]``, ``excluded_key [1 + |K|]`` (all at once, then each key
    frequency)."""
    excluded = torch.full((len(key) + 1,), torch.nan, dtype=torch.float64)  # all key freqs at once, then each k
    excluded[torch.cat([key.new_ones(1), key])] = excluded_key.cpu()
    return {
        "progress/restricted_loss": float(restricted[0]),
        "progress/restricted_loss_train": float(restricted[1]),
        "progress/excluded_loss": float(excluded[0]),
        "progress/test_loss_restricted_loss_ratio": float(test_loss / restricted[0]),
        **{f"progress/excluded_loss/freq_{k}": float(excluded[k]) for k in (key.nonzero().squeeze(1) + 1).tolist()},
        "progress/excluded_loss_per_freq": excluded[1:].numpy(),
    }


def fourier_ginis(model, task) -> dict[str, float | np.ndarray]:
    """Gini coefficients of the Fourier norms of ``W_E`` (the first operand's embeddings) and of the
    neuron-to-logit map ``W_L = (W_out W_U)ᵀ [p, d_hidden]`` (§5.4), and the norms themselves."""
    p = task.modulus
    norms = {
        "W_E": fourier_norms(model.operand_embeddings(task.operand_tokens)[0], p),
        "W_L": fourier_norms(rearrange(model.hidden_unembed()[:, :p], "h p -> p h"), p),
    }
    return {
        **{f"progress/gini_{name}": float(gini(x)) for name, x in norms.items()},
        **{f"progress/fourier_norms_{name}": x.cpu().numpy() for name, x in norms.items()},
    }


class ProgressMetric(Streamed):
    """``progress/...``: key frequencies, restricted and excluded losses (:func:`progress_losses`) and Gini
    coefficients (:func:`fourier_ginis`) of Nanda et al. 2023 (nanda_progress_measures.md §5).

    Key frequencies are the distinct frequencies of the neurons of the current model, recomputed at every metric
    epoch (the paper's figures use the final model's; ``key_freqs`` fixes the set, e.g. to a finished run's
    final key frequencies). ``exclude_top_freq`` never assigns ``(p-1)/2`` to a neuron, as the original code.

    Streamed: a first pass over every row sums the hidden layer by ``a``, ``b``, ``a ± b`` (the neurons'
    frequencies) and the logits by label (the restricted loss); a second pass over the training rows sums the
    excluded losses, which need the key frequencies.
    """

    def __init__(self, model, task, exclude_top_freq: bool, key_freqs: list[int] | None):
        self.n_freqs = max_frequency(task.modulus)
        if key_freqs is not None:
            require(all(1 <= k <= self.n_freqs for k in key_freqs), "metrics.progress.key_freqs", key_freqs,
                    f"frequencies must lie in 1..{self.n_freqs} for p={task.modulus}")
        self.n_assignable = self.n_freqs - int(exclude_top_freq)
        self.key_freqs = key_freqs
        self.hooks = (model.hidden_hook,)

    @torch.no_grad()
    def stream(self, model, task, ev: Evaluation) -> Stream:
        p, labels, device = task.modulus, task.labels, task.labels.device
        fractions: FrequencyFractions | None = None
        logit_sums = torch.zeros(p, p, dtype=torch.float64, device=device)

        def sums(chunk: Chunk) -> None:
            nonlocal fractions
            hidden = model.hidden(chunk.cache)
            if fractions is None:
                fractions = FrequencyFractions(p, hidden.shape[1], device)
            fractions.add(hidden, task.operands[chunk.index])
            add_class_sums(logit_sums, chunk.logits[:, :p], chunk.labels)

        yield Pass(sums)
        neuron_freq = neuron_frequencies(fractions.fractions()[: self.n_assignable]).cpu()
        chosen = self.key_freqs if self.key_freqs is not None else neuron_freq[neuron_freq > 0].unique().tolist()
        key = torch.zeros(self.n_freqs, dtype=torch.bool)  # over k = 1..n_freqs
        key[torch.tensor(chosen, dtype=torch.long) - 1] = True
        restricted_table, shifts = progress_tables(logit_sums, task.group, key)
        train = task.masks["train"]
        counts = torch.stack([torch.bincount(labels, minlength=p), torch.bincount(labels[train], minlength=p)])
        restricted = table_loss(restricted_table[None], counts, ev.loss.kind)[0]  # [all inputs, train inputs]
        excluded = ShiftedLosses(shifts, kind=ev.loss.kind)
        del shifts
        yield Pass(lambda chunk: excluded.add(chunk.logits[:, :p], chunk.labels), rows=train.nonzero().squeeze(1))
        test_loss = ev.row_loss[task.masks["test"]].double().mean()
        return {
            "progress/n_key_freqs": int(key.sum()),
            "progress/key_freqs": key.numpy(),
            "progress/neuron_freq": neuron_freq.numpy(),
            **progress_losses(restricted, excluded.mean(), key, test_loss),
            **fourier_ginis(model, task),
        }


@dataclass
class ProgressConfig(MetricFamilyConfig):
    """``metrics.progress``: key frequencies fixed to ``key_freqs`` or found from the neurons;
    ``exclude_top_freq`` never assigns ``(p-1)/2`` to a neuron, as the original code (:class:`ProgressMetric`)."""

    exclude_top_freq: bool = described("never assign frequency (p-1)/2 to a neuron (as the original code)")
    key_freqs: list[int] | None = described("a fixed set of key frequencies, e.g. a finished run's (null: the "
                                            "neurons' frequencies at each metric epoch)", allowed="1..(p-1)/2, or null")


def needs_residue_table_and_hidden_layer(task, model) -> str | None:
    """Applies to the whole table of pairs of residues mod ``p``, on a model with a hidden layer."""
    if task.modulus is None or task.group is None or len(task.labels) != task.group.order**2:
        return f"task {task.name} is not the whole table of pairs of residues mod p"
    if model.hidden_hook is None:
        return f"model {type(model).__name__} has no hidden layer (model.hidden_hook)"
    return None


def _plots(record: RunRecord):
    if record.logged("progress/restricted_loss"):
        yield "progress_losses", restricted_losses_figure(record, "progress/restricted_loss", "progress/excluded_loss")


def _media(values: dict[str, np.ndarray], task):
    """Neuron x frequency map: each neuron (sorted by frequency, across) lit at the frequency it is assigned
    (up; 0: none), its cell coloured by the share of the neurons that frequency has."""
    neuron_freq = values["progress/neuron_freq"]  # [d_hidden], 0: none
    n_freqs = max_frequency(task.modulus)
    order = np.argsort(neuron_freq, kind="stable")
    share = np.bincount(neuron_freq, minlength=n_freqs + 1) / len(neuron_freq)  # [K + 1]
    assigned = np.full((n_freqs + 1, len(neuron_freq)), np.nan)  # [K + 1, d_hidden]; row 0: no frequency
    assigned[neuron_freq[order], np.arange(len(order))] = share[neuron_freq[order]]
    key = [int(k) + 1 for k in np.flatnonzero(values["progress/key_freqs"])]
    yield "progress/neuron_frequency_map", Heatmap(
        assigned, "Frequency of each hidden neuron", "neuron (sorted by frequency)", "frequency k (0: none)",
        "share of the neurons at that frequency", extent=(-0.5, len(order) - 0.5, -0.5, n_freqs + 0.5),
        cmap="viridis", caption=f"each hidden neuron at the frequency that explains most of its activations; "
                                f"key frequencies: {', '.join(map(str, key)) or 'none'}")


def _summary(record: RunRecord) -> dict:
    """``key_freqs``: the key frequencies at the last metric epoch."""
    if "progress/key_freqs" not in record.arrays:
        return {}
    return {"key_freqs": [int(k) + 1 for k in np.flatnonzero(record.arrays["progress/key_freqs"][-1])]}


NANDA = "Nanda et al. 2023"
NOTATION = (r"$N \in \mathbb R^{p^2 \times d_{\mathrm{hidden}}}$: the hidden activations over all pairs $(a, b)$; "
            r"$\bar N_n$: neuron $n$'s, centred over the pairs, as a $p \times p$ table over $(a, b)$; "
            r"$L \in \mathbb R^{p^2 \times p}$: the logits of the answer classes, $\ell_c$ its column $c$; $K$: the "
            r"key frequencies.")
KEY_FREQUENCIES = (
    r"K = \{k_n : k_n > 0\},\quad k_n = \arg\max_{k} \mathrm{frac}_n(k),\quad "
    r"\mathrm{frac}_n(k) = \frac{\sum_{i,j \in \{0, 2k-1, 2k\}} \hat A_n[i,j]^2}{\sum_{i,j} \hat A_n[i,j]^2},\quad "
    r"\hat A_n = F \bar N_n F^\top")
L_K = (r"\ell^K_c = \sum_{k \in K} \sum_{u \in \{u^{\cos}_k, u^{\sin}_k\}} (u \cdot \ell_c)\, u,\quad "
       r"u^{\cos}_k(a,b) = \tfrac{\sqrt 2}{p}\cos(w_k(a+b)),\ u^{\sin}_k(a,b) = \tfrac{\sqrt 2}{p}\sin(w_k(a+b))")
RESTRICTED = r"\ell^{\mathrm{res}}_c = \ell^K_c + \operatorname{mean}_{(a,b)} \ell_c,\quad " + L_K
GINI = r"G(x) = \frac{\sum_{i=1}^{N} (2i - N - 1)\, x_{(i)}}{N \sum_i x_i}\ \ (x \text{ sorted ascending})"
KEYS = (
    MetricKey("progress/n_key_freqs", "number of key frequencies: the distinct frequencies the neurons are "
              "assigned (or metrics.progress.key_freqs)", r"\lvert K\rvert,\quad " + KEY_FREQUENCIES,
              f"{NANDA}, §4 (key frequencies)"),
    MetricKey("progress/key_freqs", "the key frequency mask over k = 1..(p-1)/2 [K]; the last one is the summary's "
              "key_freqs", KEY_FREQUENCIES, f"{NANDA}, §4 (key frequencies)", kind="array"),
    MetricKey("progress/neuron_freq", "each hidden neuron's frequency k_n (0: a dead neuron) [d_hidden]; with "
              "exclude_top_freq, k ranges over 1..(p-3)/2", KEY_FREQUENCIES, f"{NANDA}, §4 (key frequencies)",
              kind="array"),
    MetricKey("progress/restricted_loss", "loss on all pairs of the logits kept to the key-frequency directions "
              "of a + b, plus each class's mean", r"\mathrm{CE}_{\mathrm{all}}(L^{\mathrm{res}}),\quad " + RESTRICTED,
              f"{NANDA}, §5.1 (restricted loss)", "plots/progress_losses.png"),
    MetricKey("progress/restricted_loss_train", "the restricted loss on the training pairs",
              r"\mathrm{CE}_{\mathrm{train}}(L^{\mathrm{res}})", f"{NANDA}, §5.1 (restricted loss)"),
    MetricKey("progress/excluded_loss", "training loss with every key-frequency direction of a + b removed at once",
              r"\mathrm{CE}_{\mathrm{train}}(L - L^K),\quad " + L_K, f"{NANDA}, §5.1 (excluded loss)",
              "plots/progress_losses.png"),
    MetricKey("progress/excluded_loss/freq_{k}", "training loss with the directions of key frequency k alone "
              "removed (one key per key frequency)", r"\mathrm{CE}_{\mathrm{train}}(L - L^{\{k\}})",
              f"{NANDA}, §5.1 (excluded loss)"),
    MetricKey("progress/excluded_loss_per_freq", "the same for every frequency k = 1..(p-1)/2, NaN where k is not "
              "a key frequency [K]", r"\mathrm{CE}_{\mathrm{train}}(L - L^{\{k\}})", f"{NANDA}, §5.1 (excluded loss)",
              kind="array"),
    MetricKey("progress/test_loss_restricted_loss_ratio", "test loss over restricted loss",
              r"\mathrm{CE}_{\mathrm{test}}(L) / \mathrm{CE}_{\mathrm{all}}(L^{\mathrm{res}})",
              f"{NANDA}, §5.1"),
    MetricKey("progress/gini_W_E", "Gini coefficient of the Fourier norms of the first operand's embeddings",
              r"G(x),\ x_f = \lVert (F\, W_E^{(a)})_f \rVert_2\ (f = 0..p-1),\quad " + GINI,
              f"{NANDA}, §5.1 (Gini coefficients)"),
    MetricKey("progress/gini_W_L", "Gini coefficient of the Fourier norms of the neuron-to-logit map",
              r"G(x),\ x_f = \lVert (F\, W_L)_f \rVert_2,\ W_L = (W_{\mathrm{out}} W_U)^\top \in \mathbb R^{p \times "
              r"d_{\mathrm{hidden}}},\quad " + GINI, f"{NANDA}, §5.1 (Gini coefficients)"),
    MetricKey("progress/fourier_norms_W_E", "the Fourier norms x_f of W_E's first operand table [p]",
              r"x_f = \lVert (F\, W_E^{(a)})_f \rVert_2", f"{NANDA}, §5.1", kind="array"),
    MetricKey("progress/fourier_norms_W_L", "the Fourier norms x_f of W_L [p]", r"x_f = \lVert (F\, W_L)_f \rVert_2",
              f"{NANDA}, §5.1", kind="array"),
    MetricKey("key_freqs", "the key frequencies at the last metric epoch (list)", KEY_FREQUENCIES,
              f"{NANDA}, §4", kind="summary"),
)

FAMILY = MetricFamily(
    "progress", ProgressConfig, applies=needs_residue_table_and_hidden_layer, plots=_plots, summary=_summary,
    media=_media, keys=KEYS, notation=NOTATION,
    build=lambda cfg, task, model: ProgressMetric(model, task, cfg.exclude_top_freq, cfg.key_freqs))
