"""Representation-theory metrics of group composition (Chughtai et al. 2023; rep_theory.md §6–7).

Notation: ``N`` rows (all ordered pairs ``(a, b)``), output ``c_r`` = the row's label (``a ∘ b`` for
``form=ab``), ``n = |G|``, ``m = N / n`` rows per output, ``R`` real irreps. Nothing of size ``N·n`` per irrep
is ever stored: every projection used here depends on a row only through ``c_r`` (or ``a_r``, ``b_r``), so
it is a table over ``n`` outputs built from class sums (rep_theory.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from grokscope.config import MetricKey, described, require
from grokscope.figures import Bars, figure, points
from grokscope.groups.basis import GroupBasis, group_basis
from grokscope.metrics.class_sums import add_class_sums, class_sums, row_chunks
from grokscope.metrics.cross_entropy import ShiftedLosses, shifted_losses, table_loss
from grokscope.metrics.curves import restricted_losses_figure
from grokscope.metrics.evaluation import Chunk, Evaluation, Pass, Stream, Streamed
from grokscope.metrics.family import MetricFamily, MetricFamilyConfig, RunRecord


class SimilaritySums:
    """What :func:`logit_similarity` needs, summed over chunks of rows: ``M[c, z] = Σ_{r: c_r = c} L̃[r, z]`` and
    ``||L̃||²`` (rep_theory.md §7)."""

    def __init__(self, n: int, device):
        self.sums = torch.zeros(n, n, dtype=torch.float64, device=device)
        self.norm_sq = torch.zeros((), dtype=torch.float64, device=device)
        self.count = 0

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Add the rows ``logits [k, n]`` (the group's classes) with their ``labels [k]``."""
        for rows in row_chunks(len(logits), logits.shape[1]):
            centred = logits[rows].double()
            centred = centred - centred.mean(dim=1, keepdim=True)
            self.sums.index_put_((labels[rows],), centred, accumulate=True)  # index_add_'s sums, faster (class_sums)
            self.norm_sq += centred.pow(2).sum()
        self.count += len(logits)

    def similarity(self, basis: GroupBasis) -> tuple[torch.Tensor, torch.Tensor]:
        """``(s_ρ, α_ρ)``, both ``[R]`` (:func:`logit_similarity`)."""
        by_element = torch.zeros(basis.order, dtype=torch.float64, device=self.sums.device)
        by_element.index_add_(0, basis.quotient.flatten(), self.sums.flatten())  # Σ over c z⁻¹ = g
        inner = basis.characters @ by_element
        cube_norm_sq = self.count * basis.order * basis.norms
        return inner / (self.norm_sq.sqrt() * cube_norm_sq.sqrt()), inner / cube_norm_sq


def logit_similarity(logits: torch.Tensor, labels: torch.Tensor, basis: GroupBasis) -> tuple[torch.Tensor, ...]:
    """Trace similarity ``s_ρ = <L̃, T_ρ> / (||L̃|| ||T_ρ||)`` and projection coefficient
    ``α_ρ = <L̃, T_ρ> / ||T_ρ||²`` of every irrep, both ``[R]`` (rep_theory.md §6).

    ``L̃`` are the logits ``[N, n]`` centred per row and ``T_ρ[r, z] = χ_ρ(c_r z⁻¹)``. Computed without the cube
    (§7): with ``M[c, z] = Σ_{r: c_r = c} L̃[r, z]``, ``<L̃, T_ρ> = Σ_g χ_ρ(g) Σ_{(c, z): c z⁻¹ = g} M[c, z]``,
    and ``||T_ρ||² = N n <χ_ρ, χ_ρ>``. ``P_ρ = α_ρ T_ρ`` is the projection of ``L̃`` on ``T_ρ``. A cosine, but
    not torchmetrics' ``cosine_similarity``: that one needs the ``[N, n]`` cube ``T_ρ`` of every irrep in memory.
    """
    sums = SimilaritySums(basis.order, logits.device)
    sums.add(logits, labels)
    return sums.similarity(basis)


def logit_tables(coefficients: torch.Tensor, basis: GroupBasis) -> torch.Tensor:
    """``[R, n, n]``: ``P_ρ`` as a table over outputs, ``α_ρ χ_ρ(c z⁻¹)`` at ``[ρ, c, z]``."""
    return coefficients[:, None, None] * basis.characters[:, basis.quotient]


def irrep_fractions(values: torch.Tensor, basis: GroupBasis) -> torch.Tensor:
    """``[R]``: ``||Q_ρᵀ V||_F² / ||V||_F²`` for functions ``V [n, k]`` on the group (embeddings, unembedding;
    rep_theory.md §6 ``percent_*``). Sums to 1 over all irreps."""
    return basis.irrep_power(values) / values.double().pow(2).sum()


class HiddenSums:
    """The class sums of the hidden layer ``H`` by ``a``, ``b`` and the output ``c`` (``sums [3, n, h]``), with
    ``Σ_r H_r`` and ``Σ_r ||H_r||²``, summed over chunks of rows (rep_theory.md §7)."""

    def __init__(self, n: int, d_hidden: int, device):
        self.sums = torch.zeros(3, n, d_hidden, dtype=torch.float64, device=device)
        self.total = torch.zeros(1, d_hidden, dtype=torch.float64, device=device)
        self.sum_sq = torch.zeros((), dtype=torch.float64, device=device)
        self.count = 0

    def add(self, hidden: torch.Tensor, indices: torch.Tensor) -> None:
        """Add the rows ``hidden [k, h]`` with their ``indices [3, k]`` (``a``, ``b``, ``c``)."""
        for sums, index in zip(self.sums, indices):
            add_class_sums(sums, hidden, index)
        add_class_sums(self.total, hidden, torch.zeros_like(indices[0]))
        self.sum_sq += sum(hidden[rows].double().pow(2).sum() for rows in row_chunks(*hidden.shape))
        self.count += len(hidden)

    def fractions(self, basis: GroupBasis) -> torch.Tensor:
        """``[3, R]``: :func:`hidden_fractions` of the x, y and xy subspaces."""
        n, m = basis.order, self.count / basis.order
        centred_sq = self.sum_sq - self.total.pow(2).sum() / self.count
        return torch.stack([basis.irrep_power(sums - self.total / n) for sums in self.sums]) / (m * centred_sq)

    def tables(self, unembed: torch.Tensor, basis: GroupBasis) -> torch.Tensor:
        """``[R, n, n_classes]``: :func:`hidden_tables`, from the class sums by output."""
        return basis.projections(self.sums[2] @ unembed.double()) / (self.count / basis.order)


def hidden_fractions(hidden: torch.Tensor, indices: torch.Tensor, basis: GroupBasis) -> torch.Tensor:
    """``[k, R]``: ``||Q^{•ᵀ}_ρ H̄||_F² / ||H̄||_F²`` with ``Q^•_ρ[r] = Q_ρ[index_r] / √m`` for each row of
    ``indices [3, N]`` (``a``, ``b``, ``c``: the x, y and xy subspaces of rep_theory.md §6 ``percent_hidden_*``).

    ``H̄`` is ``H`` centred per neuron; via class sums (§7): ``||Q^{•ᵀ}_ρ H̄||² = ||Q_ρᵀ M̄||² / m``, where
    ``M̄[g] = Σ_{r: index_r = g} H̄_r = M[g] - Σ_r H_r / n`` (every ``g`` has ``m = N / n`` rows).
    """
    sums = HiddenSums(basis.order, hidden.shape[1], hidden.device)
    sums.add(hidden, indices)
    return sums.fractions(basis)


def hidden_tables(hidden: torch.Tensor, labels: torch.Tensor, unembed: torch.Tensor, basis: GroupBasis):
    """``[R, n, n_classes]``: the logits ``H_ρ U`` as tables over outputs (rep_theory.md §6 hidden losses).

    ``H_ρ = Q^{xy}_ρ Q^{xyᵀ}_ρ H`` (uncentred ``H``) is ``H_ρ[r] = (P_ρ M)[c_r] / m`` with ``M`` the class sums
    of ``H`` by output (§7), so ``H_ρ U`` is row ``c_r`` of ``Q_ρ Q_ρᵀ (M U) / m``.
    """
    m = len(hidden) / basis.order
    return basis.projections(class_sums(hidden, labels, basis.order) @ unembed.double()) / m


def with_key_total(tables: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """``[R + 1, ...]``: every irrep's table, then their sum over the ``key`` irreps."""
    return torch.cat([tables, tables[key].sum(dim=0, keepdim=True)])


def restricted_and_excluded(
    tables: torch.Tensor, key: torch.Tensor, values: torch.Tensor, labels: torch.Tensor, train: torch.Tensor,
    unembed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Restricted (``CE_all`` of the projection) and excluded (``CE_train`` of the logits minus it) losses,
    ``[R + 1]`` each: every irrep alone, then the sum over the ``key`` irreps (rep_theory.md §6).
    """
    tables = with_key_total(tables, key)
    restricted = table_loss(tables, torch.bincount(labels, minlength=tables.shape[1]))
    excluded = shifted_losses(values, train.nonzero().squeeze(1), labels, tables, unembed)
    return restricted, excluded


#: ``percent_{name}_explained`` = sum over the key irreps of this per-irrep metric (rep_theory.md §6).
EXPLAINED = {"x_embed": "percent_x_embed", "y_embed": "percent_y_embed", "unembed": "percent_unembed",
             "hidden": "total_percent_hidden", "hidden_xy": "percent_hidden_xy"}


class RepTheoryMetric(Streamed):
    """``rep/...``: logit similarity, key irreps, fractions of variance, restricted and excluded losses.

    Key irreps are the non-trivial irreps with logit similarity above ``threshold``. The paper takes them from
    the final model; online there is no final model yet, so they are recomputed at every metric epoch from
    the current model, unless ``key_irreps`` fixes the set (e.g. to a finished run's final key irreps).
    Hidden-layer metrics need a model with a hidden layer (``model.hidden_hook``).

    Streamed: a first pass over every row sums the logits and the hidden layer by class (similarity, key irreps,
    fractions, the restricted losses' tables); a second pass over the training rows sums the excluded losses.
    """

    def __init__(self, model, task, threshold: float, key_irreps: list[str] | None):
        names = group_basis(task.group).names
        if key_irreps is not None:
            unknown = sorted(set(key_irreps) - set(names[1:]))
            require(not unknown, "metrics.rep.key_irreps", key_irreps, f"must name non-trivial irreps of "
                    f"{task.group.name}: {', '.join(names[1:])}")
        self.threshold, self.key_irreps = threshold, key_irreps
        self.hooks = (model.hidden_hook,) if model.hidden_hook is not None else ()

    def key_mask(self, similarity: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
        if self.key_irreps is not None:
            return torch.tensor([name in self.key_irreps for name in names], device=similarity.device)
        mask = similarity > self.threshold
        mask[0] = False  # the trivial irrep comes first
        return mask

    @torch.no_grad()
    def stream(self, model, task, ev: Evaluation) -> Stream:
        labels, device = task.labels, task.labels.device
        basis = group_basis(task.group, device)
        n = basis.order
        similarity_sums = SimilaritySums(n, device)
        hidden_sums: HiddenSums | None = None

        def sums(chunk: Chunk) -> None:
            nonlocal hidden_sums
            similarity_sums.add(chunk.logits[:, :n], chunk.labels)
            if self.hooks:
                hidden = model.hidden(chunk.cache)
                if hidden_sums is None:
                    hidden_sums = HiddenSums(n, hidden.shape[1], device)
                hidden_sums.add(hidden, torch.stack([*task.operands[chunk.index].unbind(dim=1), chunk.labels]))

        yield Pass(sums)
        similarity, coefficients = similarity_sums.similarity(basis)
        key = self.key_mask(similarity, basis.names)
        counts = torch.bincount(labels, minlength=n)
        logit_tables_ = with_key_total(logit_tables(coefficients, basis), key)
        excluded = ShiftedLosses(logit_tables_, kind=ev.loss.kind)
        if self.hooks:
            unembed = model.hidden_unembed()[:, :n]
            hidden_tables_ = with_key_total(hidden_sums.tables(unembed, basis), key)
            hidden_excluded = ShiftedLosses(hidden_tables_, unembed, ev.loss.kind)

        def excluded_losses(chunk: Chunk) -> None:
            excluded.add(chunk.logits[:, :n], chunk.labels)
            if self.hooks:
                hidden_excluded.add(model.hidden(chunk.cache), chunk.labels)

        yield Pass(excluded_losses, rows=task.masks["train"].nonzero().squeeze(1))
        restricted = table_loss(logit_tables_, counts, ev.loss.kind)
        embeddings = model.effective_embeddings(task.operand_tokens)
        per_irrep = {
            "logit_similarity": similarity,
            "logit_restricted_loss": restricted[:-1],
            "logit_excluded_loss": excluded.mean()[:-1],
            "percent_x_embed": irrep_fractions(embeddings[0], basis),
            "percent_y_embed": irrep_fractions(embeddings[-1], basis),
        }
        totals = {
            "percent_logits_explained": similarity[1:].pow(2).sum(),
            "n_key_irreps": key.sum(),
            "total_logit_restricted_loss": restricted[-1],
            "total_logit_excluded_loss": excluded.mean()[-1],
        }
        if self.hooks:
            hidden_restricted = table_loss(hidden_tables_, counts, ev.loss.kind)
            hidden_excluded_loss = hidden_excluded.mean()
            x, y, xy = hidden_sums.fractions(basis)
            per_irrep |= {
                "percent_unembed": irrep_fractions(unembed.T, basis),
                "percent_hidden_x": x,
                "percent_hidden_y": y,
                "percent_hidden_xy": xy,
                "total_percent_hidden": x + y + xy,
                "hidden_restricted_loss": hidden_restricted[:-1],
                "hidden_excluded_loss": hidden_excluded_loss[:-1],
            }
            test_loss = ev.row_loss[task.masks["test"]].double().mean()
            totals |= {
                "total_hidden_restricted_loss": hidden_restricted[-1],
                "total_hidden_excluded_loss": hidden_excluded_loss[-1],
                "test_loss_restricted_loss_ratio": test_loss / hidden_restricted[-1],
            }
        for name, source in EXPLAINED.items():
            if source in per_irrep:
                totals[f"percent_{name}_explained"] = per_irrep[source][key].sum()
        return _flatten(per_irrep, totals, basis.names, key)


def _flatten(per_irrep: dict, totals: dict, names: tuple[str, ...], key: torch.Tensor) -> dict:
    """Scalars ``rep/{metric}/{irrep}`` (NaN entries left out) and ``rep/{total}``; vectors ``rep/{metric}``
    (``[R]``) and the key mask ``rep/key_irreps`` for ``arrays/``."""
    vectors = {name: value.cpu().numpy() for name, value in per_irrep.items()}
    out: dict[str, float | np.ndarray] = {f"rep/{name}": vector for name, vector in vectors.items()}
    out["rep/key_irreps"] = key.cpu().numpy()
    for name, vector in vectors.items():
        out.update({f"rep/{name}/{irrep}": float(v) for irrep, v in zip(names, vector) if not np.isnan(v)})
    out.update({f"rep/{name}": float(value) for name, value in totals.items()})
    return out


@dataclass
class RepConfig(MetricFamilyConfig):
    """``metrics.rep`` (Chughtai et al. 2023): key irreps above ``key_irrep_threshold`` or fixed to ``key_irreps``
    (:class:`RepTheoryMetric`). ``enabled: auto`` runs it on tasks whose operands are not residues mod ``p``:
    for those the progress measures (``progress/``) are its cyclic case."""

    key_irrep_threshold: float = described("key irreps: non-trivial irreps whose logit similarity exceeds this",
                                           allowed="[0, 1)")
    key_irreps: list[str] | None = described("a fixed set of key irreps by name, e.g. a finished run's (null: by "
                                             "threshold at each metric epoch)")

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require(0 <= self.key_irrep_threshold < 1, f"{prefix}.key_irrep_threshold", self.key_irrep_threshold,
                "must be in [0, 1)")


def needs_group_table(task, model) -> str | None:
    """Applies to the whole table of pairs of a finite group (``task.group``)."""
    if task.group is None:
        return f"task {task.name} is not over a finite group (task.group)"
    if len(task.labels) != task.group.order**2:
        return f"task {task.name} does not hold every pair of {task.group.name}"
    return None


def similarity_figure(record: RunRecord, max_labels: int = 10):
    """Logit similarity ``rep/logit_similarity/{irrep}`` of every non-trivial irrep over epochs; the legend names
    the ``max_labels`` irreps with the highest peak (Chughtai et al. 2023, rep_theory.md §6)."""
    prefix = "rep/logit_similarity/"
    irreps = sorted({key.removeprefix(prefix) for row in record.history for key in row if key.startswith(prefix)})
    series = {irrep: record.series(prefix + irrep) for irrep in irreps if irrep != "trivial"}
    labelled = sorted(series, key=lambda irrep: -series[irrep][1].max())[:max_labels]
    fig, ax = figure((9, 4.5))
    for irrep, (epochs, values) in series.items():
        ax.plot(epochs, values, label=irrep if irrep in labelled else None, lw=1.5 if irrep in labelled else 0.7,
                **points(len(epochs)))
    ax.set(xscale="log", xlabel="epoch + 1", ylabel="logit similarity", title="Logit similarity per irrep")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    return fig


def _plots(record: RunRecord):
    if record.logged("rep/logit_similarity/trivial"):
        yield "rep_logit_similarity", similarity_figure(record)
    if record.logged("rep/total_hidden_restricted_loss"):
        yield "rep_losses", restricted_losses_figure(record, "rep/total_hidden_restricted_loss",
                                                     "rep/total_hidden_excluded_loss")


def _media(values: dict[str, np.ndarray], task):
    """Bars of the logit similarity of every irrep (in the order of ``group_basis(task.group).names``, the
    trivial irrep first) at one metric epoch, key irreps dark."""
    yield "rep/logit_similarity_bars", Bars(
        values["rep/logit_similarity"], "Logit similarity per irrep", "irrep", "logit similarity",
        xticklabels=tuple(group_basis(task.group).names), dark=values["rep/key_irreps"], dark_label="key irrep",
        caption="cosine of the centred logits with each irrep's character table; the key irreps are dark")


def _summary(record: RunRecord) -> dict:
    """``key_irreps``: the names of the key irreps at the last metric epoch."""
    if "rep/key_irreps" not in record.arrays:
        return {}
    names = group_basis(record.task.group).names
    return {"key_irreps": [names[i] for i in np.flatnonzero(record.arrays["rep/key_irreps"][-1])]}


CHUGHTAI = "Chughtai et al. 2023"
NOTATION = (r"$N$ rows (every pair $(a, b)$ of the group $G$), $c_r$ row $r$'s label, $n = \lvert G\rvert$, "
            r"$m = N / n$ rows per label; $L$: the logits of the $n$ answer classes, $\tilde L$ centred per row; "
            r"$\chi_\rho$: the character of the real irrep $\rho$, $Q_\rho$ an orthonormal basis of its isotypic "
            r"subspace of functions on $G$; $H$: the hidden layer, $\bar H$ centred per neuron; $K$: the key irreps. "
            r"`{irrep}` is an irrep's name (`trivial`, `sign`, `standard`, `freq_1`, ...), as "
            r"`intervention.ablate.irreps` takes them; NaN values are left out.")
T_RHO = r"T_\rho[r, z] = \chi_\rho(c_r z^{-1})"
SIMILARITY = (r"s_\rho = \frac{\langle \tilde L, T_\rho\rangle}{\lVert \tilde L\rVert_F\, \lVert T_\rho\rVert_F},\quad "
              + T_RHO)
P_RHO = r"P_\rho = \alpha_\rho T_\rho,\ \alpha_\rho = \frac{\langle \tilde L, T_\rho\rangle}{\lVert T_\rho\rVert_F^2}"
KEY_IRREPS = (r"K = \{\rho \ne \mathrm{trivial} : s_\rho > \tau\}\ (\tau = \texttt{key\_irrep\_threshold}; "
              r"\text{or the fixed } \texttt{key\_irreps}),\quad " + SIMILARITY)
FRACTION = r"\frac{\lVert Q_\rho^\top V\rVert_F^2}{\lVert V\rVert_F^2}"
HIDDEN_FRACTION = (r"\frac{\lVert Q^{\bullet\top}_\rho \bar H\rVert_F^2}{\lVert \bar H\rVert_F^2},\ "
                   r"Q^\bullet_\rho[r] = Q_\rho[g_r] / \sqrt m")
H_RHO = (r"H_\rho = Q^{xy}_\rho Q^{xy\top}_\rho H\ (Q^{xy}_\rho[r] = Q_\rho[c_r]/\sqrt m),"
         r"\ U \text{ the hidden-to-logit map}")
LOGIT_ATTRIBUTION = f"{CHUGHTAI}, §5 (logit attribution)"
EMBEDDINGS = f"{CHUGHTAI}, §5 (embeddings and unembeddings)"
HIDDEN = f"{CHUGHTAI}, §5 (neurons)"
ABLATIONS = f"{CHUGHTAI}, §5 (ablations: restricted and excluded loss)"


def _tt(name: str) -> str:
    """``name`` in typewriter type, as LaTeX."""
    return r"\texttt{" + name.replace("_", r"\_") + "}"


def _per_irrep(name: str, meaning: str, formula: str, source: str, plot: str = "") -> tuple[MetricKey, ...]:
    """``rep/{name}/{irrep}`` (a scalar per irrep) and the vector ``rep/{name}`` over every irrep, trivial first."""
    return (MetricKey(f"rep/{name}/{{irrep}}", f"{meaning}, for the irrep named", formula, source, plot),
            MetricKey(f"rep/{name}", f"{meaning}, every irrep [R]", formula, source, kind="array"))


KEYS = (
    *_per_irrep("logit_similarity", "cosine of the centred logits with the irrep's character table", SIMILARITY,
                LOGIT_ATTRIBUTION, "plots/rep_logit_similarity.png"),
    MetricKey("rep/percent_logits_explained", "sum of the squared logit similarities of the non-trivial irreps",
              r"\sum_{\rho \ne \mathrm{trivial}} s_\rho^2", LOGIT_ATTRIBUTION),
    MetricKey("rep/n_key_irreps", "number of key irreps", r"\lvert K\rvert,\quad " + KEY_IRREPS, LOGIT_ATTRIBUTION),
    MetricKey("rep/key_irreps", "the key irrep mask over every irrep [R]; the last one is the summary's key_irreps",
              KEY_IRREPS, LOGIT_ATTRIBUTION, kind="array"),
    *_per_irrep("logit_restricted_loss", "loss on all pairs of the logits' projection on the irrep",
                r"\mathrm{CE}_{\mathrm{all}}(P_\rho),\quad " + P_RHO, ABLATIONS),
    *_per_irrep("logit_excluded_loss", "training loss of the logits without their projection on the irrep",
                r"\mathrm{CE}_{\mathrm{train}}(L - P_\rho),\quad " + P_RHO, ABLATIONS),
    MetricKey("rep/total_logit_restricted_loss", "loss on all pairs of the logits' projection on the key irreps",
              r"\mathrm{CE}_{\mathrm{all}}\big(\textstyle\sum_{\rho \in K} P_\rho\big)", ABLATIONS),
    MetricKey("rep/total_logit_excluded_loss", "training loss of the logits without their key-irrep projection",
              r"\mathrm{CE}_{\mathrm{train}}\big(L - \textstyle\sum_{\rho \in K} P_\rho\big)", ABLATIONS),
    *_per_irrep("percent_x_embed", "fraction of the variance of the left operand's effective embeddings in the "
                "irrep (MLP: W_E W_in; transformer: W_E)", FRACTION + r",\ V = E^{(a)}", EMBEDDINGS),
    *_per_irrep("percent_y_embed", "the same for the right operand's", FRACTION + r",\ V = E^{(b)}", EMBEDDINGS),
    *_per_irrep("percent_unembed", "fraction of the variance of the unembedding (hidden-to-logit map) in the irrep",
                FRACTION + r",\ V = U^\top", EMBEDDINGS),
    *_per_irrep("percent_hidden_x", "fraction of the variance of the centred hidden layer in the irrep's "
                "functions of a", HIDDEN_FRACTION + r",\ g_r = a_r", HIDDEN),
    *_per_irrep("percent_hidden_y", "the same for functions of b", HIDDEN_FRACTION + r",\ g_r = b_r", HIDDEN),
    *_per_irrep("percent_hidden_xy", "the same for functions of the label a b", HIDDEN_FRACTION + r",\ g_r = c_r",
                HIDDEN),
    *_per_irrep("total_percent_hidden", "the three fractions of the hidden layer together",
                " + ".join(_tt(f"percent_hidden_{x}") for x in ("x", "y", "xy")), HIDDEN),
    *_per_irrep("hidden_restricted_loss", "loss on all pairs of the logits of the hidden layer's projection on the "
                "irrep's functions of a b", r"\mathrm{CE}_{\mathrm{all}}(H_\rho U),\quad " + H_RHO, ABLATIONS),
    *_per_irrep("hidden_excluded_loss", "training loss of the logits with that projection removed",
                r"\mathrm{CE}_{\mathrm{train}}\big((H - H_\rho)\, U\big),\quad " + H_RHO, ABLATIONS),
    MetricKey("rep/total_hidden_restricted_loss", "the hidden restricted loss of the key irreps together",
              r"\mathrm{CE}_{\mathrm{all}}\big(\textstyle\sum_{\rho \in K} H_\rho U\big)", ABLATIONS,
              "plots/rep_losses.png"),
    MetricKey("rep/total_hidden_excluded_loss", "the hidden excluded loss of the key irreps together",
              r"\mathrm{CE}_{\mathrm{train}}\big((H - \textstyle\sum_{\rho \in K} H_\rho)\, U\big)", ABLATIONS,
              "plots/rep_losses.png"),
    MetricKey("rep/test_loss_restricted_loss_ratio", "test loss over the total hidden restricted loss",
              r"\mathrm{CE}_{\mathrm{test}}(L) / "
              r"\mathrm{CE}_{\mathrm{all}}\big(\textstyle\sum_{\rho \in K} H_\rho U\big)",
              ABLATIONS),
    *(MetricKey(f"rep/percent_{name}_explained", f"{source} summed over the key irreps",
                r"\sum_{\rho \in K} " + _tt(source) + r"_\rho",
                EMBEDDINGS if "embed" in name else HIDDEN)
      for name, source in EXPLAINED.items()),
    MetricKey("key_irreps", "the names of the key irreps at the last metric epoch (list)", KEY_IRREPS,
              LOGIT_ATTRIBUTION, kind="summary"),
)


FAMILY = MetricFamily(
    "rep", RepConfig, applies=needs_group_table, auto=lambda task, model, optimizer: task.modulus is None, plots=_plots,
    summary=_summary, media=_media, keys=KEYS, notation=NOTATION,
    build=lambda cfg, task, model: RepTheoryMetric(model, task, cfg.key_irrep_threshold, cfg.key_irreps))
