"""Prieto, Barsbey, Mediano, Birdal 2025, "Grokking at the edge of numerical stability" (ICLR 2025): softmax
collapse without weight decay, the softmax's precision, StableMax and ⊥AdamW on (a+b) mod 113 with the one-hot
MLP (numerical_stability.md §2-4).

Verdict rules (fixed before any run was read):

- *plain AdamW stalls and collapses* (float32 softmax): yes when the training accuracy reaches 0.99, the test
  accuracy never does, and the softmax-collapse (SC) fraction ends above 0.5; partly when two of the three hold.
- *precision*: the epoch at which SC first exceeds 0.5 (never: after the run) and the best test accuracy of the
  trained model (epochs after 0: the initial model's chance accuracy is not a climb), over float16 -> float32 ->
  float64; yes when both never decrease and at least one increases; partly when one does.
- *StableMax groks*: yes when the test accuracy reaches 0.99; partly when it ends above 0.5; no otherwise.
- *⊥AdamW*: yes when every ⊥AdamW seed reaches test accuracy 0.99 within the run and no plain AdamW seed does;
  partly when ⊥AdamW ends with the higher test accuracy on every seed; no otherwise.
- *NLM alignment* (float32, plain AdamW): its largest value at or after the epoch the training accuracy reaches
  0.99; yes from 0.9, partly from 0.5.
"""

from __future__ import annotations

import csv
from pathlib import Path

from grokscope.figures import figure, png_bytes, points
from grokscope.reproduce.plan import Plan, Sweep
from grokscope.reproduce.report import Claim, Findings
from grokscope.reproduce.runs import completed, grok_epoch, number
from grokscope.training.outputs import atomic_write_bytes

NAME = "prieto"
TITLE = "Prieto et al. 2025: grokking at the edge of numerical stability"
PAPER_SCALE = ("seeds 0-2 for every figure setting; Figure 2 also at fractions 0.6 and 0.7; Figure 1 (iii), the "
               "float64 softmax at lr 0.01 for 80k epochs; Figure 6's MLP with and without ⊥AdamW")
DTYPES = ("float16", "float32", "float64")
TINY = ("task.p=11", "model.d_embed=16", "model.hidden=[16]", "max_epochs=40", "log_every_n_epochs=10",
        "metrics.every_n_epochs=20", "checkpoint_every_n_epochs=20")


def plan(scale: str) -> Plan:
    """``precision``: Figure 2 (plain AdamW, the softmax in float16, float32, float64); ``orthograd``: Figure 1
    (ii) with ⊥AdamW and the plain AdamW beside it; ``stablemax``: Figure 1 (i). The paper scale adds seeds,
    fractions and Figure 1 (iii) and 6."""
    orthogonal = {"optimizer.orthogonal": ("true", "false")}
    if scale == "paper":
        seeds = {"seed": (0, 1, 2)}
        return Plan(scale, (
            Sweep("precision", "prieto_precision", {"loss_dtype": DTYPES, **seeds}),
            Sweep("precision_fractions", "prieto_precision", {"loss_dtype": DTYPES, "task.frac_train": (0.6, 0.7),
                                                              **seeds}, ("optimizer.eps=1e-25",)),
            Sweep("orthograd", "prieto_orthograd", {**orthogonal, **seeds}),
            Sweep("stablemax", "prieto_stablemax", seeds),
            Sweep("float64", "prieto_float64", seeds),
            Sweep("mlp_orthograd", "prieto_mlp_orthograd", {**orthogonal, **seeds})))
    if scale == "cpu":
        return Plan(scale, (
            Sweep("precision", "prieto_precision", {"loss_dtype": DTYPES, "seed": (0,)}),
            Sweep("orthograd", "prieto_orthograd", {**orthogonal, "seed": (0, 1, 2)}),
            Sweep("stablemax", "prieto_stablemax", {"seed": (0,)})),
            cuts=("Figure 2 (precision, 20k epochs) and Figure 1 (i) (StableMax, 80k epochs): seed 0 only, at the "
                  "paper's settings; Figure 2 at fraction 0.4 only (not 0.6, 0.7)",
                  "Figure 1 (iii) (float64 softmax, lr 0.01, 80k epochs) and Figure 6 are not run: the precision "
                  "claim is read from Figure 2's runs"),
            estimate="about 75 min on 2 cores (StableMax about 50, the three precision runs about 12 each, "
                     "⊥AdamW 2)")
    return Plan(scale, (Sweep("precision", "prieto_precision", {"loss_dtype": DTYPES, "seed": (0,)}, TINY),
                        Sweep("orthograd", "prieto_orthograd", {**orthogonal, "seed": (0,)}, TINY),
                        Sweep("stablemax", "prieto_stablemax", {"seed": (0,)}, TINY)),
                cuts=("tiny: p = 11, a 16-wide MLP, 40 epochs",), estimate="about a minute")


def measure(runs: Path, scale_plan: Plan) -> Findings:
    """The runs of each sweep as table rows; the claims; one figure of the curves."""
    findings = Findings()
    precision, orthograd, stablemax = ([_row(run_dir, summary) for run_dir, summary in completed(runs / name,
                                                                                                  findings)]
                                       for name in ("precision", "orthograd", "stablemax"))
    precision.sort(key=lambda r: (DTYPES.index(r["loss_dtype"]), r["seed"]))
    orthograd.sort(key=lambda r: (r["⊥AdamW"] == "no", r["seed"]))
    for caption, rows in (("Figure 2: the softmax's precision (plain AdamW, lr 5e-4)", precision),
                          ("Figure 1 (ii): ⊥AdamW and plain AdamW (lr 0.01)", orthograd),
                          ("Figure 1 (i): StableMax (lr 0.01, betas (0.9, 0.999))", stablemax)):
        findings.tables.append((caption, [{k: number(v) for k, v in r.items() if k[0] != "_"} for r in rows]))
    findings.claims += _precision_claims(precision) + _stablemax_claims(stablemax) + _orthograd_claims(orthograd)
    if precision or orthograd or stablemax:
        path = runs / "analysis" / "prieto.png"
        atomic_write_bytes(path, _figure(precision, orthograd, stablemax))
        findings.figures.append(("Test accuracy and the softmax-collapse fraction over epochs, per run", path))
    return findings


def _history(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def _row(run_dir: Path, summary: dict) -> dict:
    config, final = summary["config"], summary["final"]
    history = _history(run_dir)
    train_grok = grok_epoch(summary, "train")
    nlm = [row["stability/nlm_alignment"] for row in history if "stability/nlm_alignment" in row
           and train_grok is not None and row["epoch"] >= train_grok]
    task, optimizer = config["task"], config["optimizer"]
    return {"loss": config["loss"]["kind"], "loss_dtype": config["loss_dtype"],
            "⊥AdamW": "yes" if optimizer.get("orthogonal") else "no", "seed": config["seed"],
            "epochs": summary["epochs"],
            "train grok": train_grok, "test grok": grok_epoch(summary),
            "best test acc": max(row["test/acc"] for row in history if "test/acc" in row and row["epoch"] > 0),
            "final test acc": final["test/acc"], "SC > 0.5 from": summary.get("stability/sc_half_epoch"),
            "final SC": summary.get("stability/final_softmax_collapse"),
            "NLM after train grok (max)": max(nlm) if nlm else None, "_history": history,
            "_setting": f"p = {task['p']}, {task['frac_train']:.0%}, lr {optimizer['lr']:g}"}


def _measured_at(rows: list[dict], figure_name: str) -> str:
    """The figure setting of ``rows`` (p, fraction, lr from their configs), their seeds and run lengths."""
    settings = "; ".join(sorted({r["_setting"] for r in rows}))
    seeds = ", ".join(str(s) for s in sorted({r["seed"] for r in rows}))
    epochs = ", ".join(f"{e:,}" for e in sorted({r["epochs"] for r in rows}))
    return f"{figure_name}: {settings}, seed {seeds}, {epochs} epochs"


def _rate(hits: int, total: int) -> str:
    return {total: "yes", 0: "no"}.get(hits, "partly")


def _precision_claims(rows: list[dict]) -> list[Claim]:
    claims = []
    at = _measured_at(rows, "Figure 2") if rows else ""
    f32 = next((r for r in rows if r["loss_dtype"] == "float32"), None)
    if f32:
        checks = [f32["train grok"] is not None, f32["test grok"] is None, (f32["final SC"] or 0) > 0.5]
        verdict = _rate(sum(checks), 3)
        claims.append(Claim(
            "plain AdamW, float32 softmax", f"train accuracy 0.99 at epoch {number(f32['train grok'])}, test "
            f"accuracy at most {f32['best test acc']:.3f}, SC fraction {number(f32['final SC'])} at the end "
            f"(> 0.5 from epoch {number(f32['SC > 0.5 from'])})", "without regularisation, training accuracy "
            "reaches 100% early, test accuracy stalls, and the SC fraction rises towards 1", "§3, Figure 2", verdict,
            "yes: train accuracy 0.99, test accuracy never 0.99, SC ends above 0.5; partly: two of the three"
            + ("" if verdict == "yes" else f". Account: {_collapse_account(f32['_history'])}"), measured_at=at))
        nlm = f32["NLM after train grok (max)"]
        if nlm is not None:
            verdict = "yes" if nlm >= 0.9 else ("partly" if nlm >= 0.5 else "no")
            claims.append(Claim(
                "NLM alignment", f"cos(-grad L, theta) up to {nlm:.3f} after the training accuracy reaches 0.99",
                "the NLM alignment approaches 1 after the training accuracy reaches 100% under plain AdamW",
                "§4, Figure 3", verdict, "yes from 0.9, partly from 0.5 (its largest value from the training-accuracy "
                "epoch on)" + ("" if verdict == "yes" else f". Account: {_nlm_account(f32['_history'])}"),
                measured_at=at))
    by_dtype = [next((r for r in rows if r["loss_dtype"] == d), None) for d in DTYPES]
    if all(by_dtype):
        after = max(r["epochs"] for r in by_dtype) + 1
        sc = [r["SC > 0.5 from"] if r["SC > 0.5 from"] is not None else after for r in by_dtype]
        best = [r["best test acc"] for r in by_dtype]
        trends = [all(x <= y for x, y in zip(v, v[1:])) and v[0] < v[-1] for v in (sc, best)]
        verdict = _rate(sum(trends), 2)
        account = "" if verdict == "yes" else (
            f". Account: the collapse {'is' if trends[0] else 'is not'} delayed by the precision, and at this fraction "
            f"no precision lifts the test accuracy off chance within the run (best {max(best):.3f}); the paper's "
            "Figure 2 also runs fractions 0.6 and 0.7, cut at this scale")
        claims.append(Claim(
            "the softmax's precision", "SC > 0.5 from epoch / best test accuracy, float16 -> float32 -> float64: "
            + ", ".join(f"{number(r['SC > 0.5 from'])} / {r['best test acc']:.3f}" for r in by_dtype),
            "a higher softmax precision delays the collapse and lets the test accuracy climb further",
            "§3, Figure 2", verdict, "yes: the SC epoch and the best test accuracy never fall with the precision and "
            "rise from float16 to float64 (never = after the run); partly: one of the two" + account,
            measured_at=at))
    return claims


def _series(history: list[dict], key: str) -> list[tuple[int, float]]:
    return [(int(row["epoch"]), row[key]) for row in history if key in row]


def _collapse_account(history: list[dict]) -> str:
    """How the SC fraction moved: where it first exceeded 0.1 and its range from there on."""
    sc = _series(history, "stability/softmax_collapse")
    start = next((epoch for epoch, value in sc if value > 0.1), None)
    if start is None:
        return "the SC fraction never exceeded 0.1"
    later = [value for epoch, value in sc if epoch >= start]
    return (f"the SC fraction first exceeded 0.1 at epoch {start} and then moved between {min(later):.2f} and "
            f"{max(later):.2f} (metric epochs), without settling near 1: collapsed rows stop contributing gradient, "
            "the others keep the logits moving, so the fraction oscillates at this learning rate")


def _nlm_account(history: list[dict]) -> str:
    """Where the NLM alignment peaked, against the start of the collapse."""
    nlm = [(epoch, value) for epoch, value in _series(history, "stability/nlm_alignment") if value == value]
    sc = _series(history, "stability/softmax_collapse")
    peak_epoch, peak = max(nlm, key=lambda item: item[1])
    start = next((epoch for epoch, value in sc if value > 0.1), None)
    after = [value for epoch, value in nlm if start is not None and epoch >= start]
    tail = (f"; once the SC fraction exceeds 0.1 (epoch {start}) the collapsed rows' gradients vanish and the "
            f"alignment moves between {min(after):.2f} and {max(after):.2f}") if after else ""
    return f"the alignment peaks at {peak:.2f} at epoch {peak_epoch}{tail}"


def _stablemax_claims(rows: list[dict]) -> list[Claim]:
    if not rows:
        return []
    r = rows[0]
    verdict = "yes" if r["test grok"] is not None else ("partly" if r["final test acc"] > 0.5 else "no")
    account = "" if verdict == "yes" else f". Account: {_rise_account(r['_history'])}"
    return [Claim("StableMax, no weight decay", f"test accuracy 0.99 at epoch {number(r['test grok'])} (train at "
                  f"{number(r['train grok'])}), final {r['final test acc']:.3f}", "with StableMax, the MLP groks "
                  "without weight decay", "§5, Figure 1", verdict, "yes: test accuracy 0.99; partly: it ends above "
                  "0.5" + account, measured_at=_measured_at(rows, "Figure 1 (i)"))]


def _rise_account(history: list[dict]) -> str:
    """How the test accuracy rose: at each quarter of the run, and over its last tenth."""
    acc = _series(history, "test/acc")
    end = acc[-1][0]
    quarters = [next(value for epoch, value in acc if epoch >= end * q / 4) for q in (1, 2, 3)]
    tenth = next(value for epoch, value in acc if epoch >= end * 0.9)
    return (f"the test accuracy was {quarters[0]:.2f}, {quarters[1]:.2f} and {quarters[2]:.2f} at a quarter, half and "
            f"three quarters of the run and rose from {tenth:.2f} to {acc[-1][1]:.2f} over its last tenth: "
            + ("it was still climbing when the run ended" if acc[-1][1] > tenth else "it had stopped rising"))


def _orthograd_claims(rows: list[dict]) -> list[Claim]:
    ortho = {r["seed"]: r for r in rows if r["⊥AdamW"] == "yes"}
    plain = {r["seed"]: r for r in rows if r["⊥AdamW"] == "no"}
    seeds = sorted(set(ortho) & set(plain))
    if not seeds:
        return []
    if all(ortho[s]["test grok"] is not None for s in seeds) and all(plain[s]["test grok"] is None for s in seeds):
        verdict = "yes"
    else:
        verdict = "partly" if all(ortho[s]["final test acc"] > plain[s]["final test acc"] for s in seeds) else "no"
    shown = "; ".join(f"seed {s}: ⊥AdamW {number(ortho[s]['test grok'])} ({ortho[s]['final test acc']:.3f}), "
                      f"AdamW {number(plain[s]['test grok'])} ({plain[s]['final test acc']:.3f})" for s in seeds)
    return [Claim("⊥AdamW, no weight decay", "test accuracy 0.99 at epoch (final test accuracy): " + shown,
                  "with ⊥AdamW, the MLP generalises within a few hundred epochs without weight decay, where plain "
                  "AdamW does not", "§6, Figure 1", verdict, "yes: every ⊥AdamW seed reaches test accuracy 0.99 "
                  "and no AdamW seed does; partly: ⊥AdamW ends higher on every seed",
                  measured_at=_measured_at(rows, "Figure 1 (ii)"))]


def _figure(precision: list[dict], orthograd: list[dict], stablemax: list[dict]) -> bytes:
    """Test accuracy (top) and SC fraction (bottom) over epochs: the precision runs, ⊥AdamW against AdamW, and
    StableMax."""
    fig, axes = figure((13, 7), 2, 3, sharex="col")
    panels = (("Figure 2: precision", precision, lambda r: r["loss_dtype"]),
              ("Figure 1 (ii): ⊥AdamW vs AdamW", orthograd,
               lambda r: f"{'⊥AdamW' if r['⊥AdamW'] == 'yes' else 'AdamW'} seed {r['seed']}"),
              ("Figure 1 (i): StableMax", stablemax, lambda r: f"StableMax seed {r['seed']}"))
    for column, (title, rows, label) in enumerate(panels):
        top, bottom = axes[0][column], axes[1][column]
        for r in rows:
            for ax, key in ((top, "test/acc"), (bottom, "stability/softmax_collapse")):
                series = [(row["epoch"] + 1, row[key]) for row in r["_history"] if key in row]
                if series:
                    x, y = zip(*series)
                    ax.plot(x, y, label=label(r), **points(len(series)))
        top.set_title(title)
        top.set_ylabel("test accuracy")
        bottom.set_ylabel("softmax-collapse fraction (train)")
        bottom.set_xlabel("epoch + 1")
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            if rows:
                ax.legend(fontsize=7)
    fig.suptitle("Prieto et al. 2025 reproduced: (a+b) mod 113, 40% train, one-hot MLP, no weight decay")
    return png_bytes(fig)
