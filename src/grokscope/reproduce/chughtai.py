"""Chughtai, Chan, Nanda 2023, "A Toy Model of Universality" (ICML 2023): which irreps of S_5 the MLP of
``experiment=chughtai_s5_mlp`` uses over seeds, and one transformer (rep_theory.md §4-6)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from grokscope.analysis.remetric import remetric
from grokscope.figures import figure, png_bytes
from grokscope.groups.irreps import irreps
from grokscope.reproduce.plan import Plan, Sweep
from grokscope.reproduce.report import Claim, Findings
from grokscope.reproduce.runs import completed, grok_epoch, number
from grokscope.run.load import load_run
from grokscope.training.outputs import atomic_write_bytes

NAME = "chughtai"
TITLE = "Chughtai et al. 2023: a toy model of universality (S5)"
#: what the cut scales leave for ``--scale paper`` (a GPU)
PAPER_SCALE = "S_5, the MLP over seeds 1-50 for 250k epochs, the transformer for 50k"
MLP, TRANSFORMER = "chughtai_s5_mlp", "chughtai_s5_transformer"
#: the paper's run length of the transformer (rep_theory.md §4)
TRANSFORMER_EPOCHS = 50_000
#: S_4 instead of S_5 (24 elements: 576 pairs instead of 14,400)
S4 = ("group.n=4",)
TINY = (*S4, "model.d_embed=16", "model.hidden=[32]", "max_epochs=60", "metrics.every_n_epochs=20",
        "metrics.log_points=0", "checkpoint_every_n_epochs=20", "snapshot_every_n_epochs=20")
TINY_TRANSFORMER = (*S4, "model.d_model=16", "model.n_heads=2", "model.d_head=8", "model.d_mlp=32",
                    "max_epochs=40", "metrics.every_n_epochs=20", "metrics.log_points=0",
                    "checkpoint_every_n_epochs=20", "snapshot_every_n_epochs=20")


def plan(scale: str) -> Plan:
    """``mlp``: the S_5 MLP over seeds (the paper's seeds 1-50; key irreps per seed); ``transformer``: one
    S_5 transformer (seed 1)."""
    if scale == "paper":
        return Plan(scale, (Sweep("mlp", MLP, {"seed": tuple(range(1, 51))}),
                            Sweep("transformer", TRANSFORMER, {"seed": (1,)})))
    if scale == "cpu":
        common = (*S4, "task.frac_train=0.8", "metrics.log_points=100", "snapshot_every_n_epochs=500",
                  "metrics.every_n_epochs=500")
        return Plan(scale, (
            Sweep("mlp", MLP, {"seed": (1, 2, 3, 4)}, (*common, "max_epochs=8000")),
            Sweep("transformer", TRANSFORMER, {"seed": (1,)}, (*common, "max_epochs=4000"))),
            cuts=("S_4 (order 24) instead of S_5 (order 120): a 2-core CPU trains the S_5 MLP at roughly 10 "
                  "epochs/s, so the paper's 250k epochs take about 7 hours per seed",
                  "80% of the pairs for training instead of 40% (MLP) and 60% (transformer): with 40% or 60% of "
                  "S_4's 576 pairs the MLP memorises and does not generalise within 4000 epochs (test accuracy "
                  "0.0 at 40% after 20k epochs, 0.07 at 60% after 4000; 0.85 at 80% after 4000)",
                  "seeds 1-4 instead of 1-50; the MLP trains 8000 epochs instead of 250k, the transformer 4000 "
                  "instead of 50k",
                  "metrics on 100 log-spaced epochs plus every 500 (the paper: about 1000 log-spaced)"),
            estimate="about 30 min on 2 cores")
    return Plan(scale, (Sweep("mlp", MLP, {"seed": (1, 2)}, TINY),
                        Sweep("transformer", TRANSFORMER, {"seed": (1,)}, TINY_TRANSFORMER)),
                cuts=("tiny: S_4, a width-32 MLP and a d_model-16 transformer, 40-60 epochs",),
                estimate="about a minute")


def measure(runs: Path, scale_plan: Plan) -> Findings:
    """Per seed (MLP) and for the transformer: grokking epochs and the final key irreps; how often each irrep
    is key over the MLP seeds (a bar chart); the per-irrep logit similarity of the first MLP seed and the
    transformer with the final key irreps (:func:`~grokscope.analysis.remetric.remetric`)."""
    findings = Findings()
    mlp = [_row(run_dir, summary) for run_dir, summary in completed(runs / "mlp", findings)]
    transformer = [_row(run_dir, summary) for run_dir, summary in completed(runs / "transformer", findings)]
    shown = ("seed", "group", "epochs", "train grok", "test grok", "final test acc", "key irreps")
    for caption, rows in (("MLP seeds", mlp), ("Transformer", transformer)):
        findings.tables.append((caption, [{k: number(row[k]) for k in shown}
                                          for row in rows]))
    if mlp:
        dims = mlp[0]["_dims"]
        counts = Counter(name for row in mlp for name in row["_key"])
        findings.tables.append(("How often each irrep is key over the MLP seeds",
                                [{"irrep": name, "dim": dim, "seeds": f"{counts[name]}/{len(mlp)}"}
                                 for name, dim in dims.items() if name != "trivial"]))
        chart = runs / "mlp" / "analysis" / "key_irreps.png"
        _key_irrep_chart(dims, counts, len(mlp), mlp[0]["group"], chart)
        findings.figures.append(("How often each irrep is key over the MLP seeds", chart))
    for label, rows in (("MLP", mlp), ("transformer", transformer)):
        plots = Path(rows[0]["_run_dir"]) / "remetric" / "plots" if rows else None
        findings.figures += [(f"{label} seed {rows[0]['seed']}: {caption}", plots / f"{name}.png")
                             for name, caption in (("rep_logit_similarity", "logit similarity per irrep"),
                                                   ("losses", "restricted and excluded loss with the final key "
                                                              "irreps"))
                             if plots is not None and (plots / f"{name}.png").is_file()]
    findings.claims += _claims(mlp, transformer, scale_plan.scale)
    return findings


def _row(run_dir: Path, summary: dict) -> dict:
    run = load_run(run_dir)
    result = remetric(run, run_dir / "remetric")
    key, final = result.key_sets["rep"], result.history[-1]
    group = summary["config"]["group"]
    return {"seed": summary["config"]["seed"], "group": f"{group['name']}_{group.get('n')}",
            "epochs": summary["epochs"], "train grok": grok_epoch(summary, "train"), "test grok": grok_epoch(summary),
            "final test acc": summary["final"]["test/acc"], "key irreps": " ".join(key) or "none",
            "_key": key, "_dims": {irrep.name: irrep.dim for irrep in irreps(run.task.group)},
            "_similarity": {k.rsplit("/", 1)[1]: v for k, v in final.items()
                            if k.startswith("rep/logit_similarity/") and not k.endswith("/trivial")},
            "_run_dir": str(run_dir)}


def _key_irrep_chart(dims: dict[str, int], counts: Counter, n_seeds: int, group: str, path: Path) -> None:
    names = [name for name in dims if name != "trivial"]
    fig, ax = figure((7, 4))
    ax.bar([f"{name}\n({dims[name]}d)" for name in names], [counts[name] for name in names])
    ax.set(ylabel=f"seeds (of {n_seeds})", title=f"{group} MLP: key irreps of the final models")
    ax.grid(alpha=0.3, axis="y")
    atomic_write_bytes(path, png_bytes(fig))


def _claims(mlp: list[dict], transformer: list[dict], scale: str) -> list[Claim]:
    claims = []
    if mlp:
        generalised = [row for row in mlp if row["test grok"] is not None]
        claims.append(Claim(
            "MLP generalises", f"{len(generalised)} of {len(mlp)} seeds reach test accuracy 0.99 (epochs "
                               f"{', '.join(number(row['test grok']) for row in mlp)})",
            "the MLPs grok: full test accuracy after train accuracy", "§5 (training curves)",
            "yes" if len(generalised) == len(mlp) else "no"))
        few = [row for row in mlp if 1 <= len(row["_key"]) <= 3]
        claims.append(Claim(
            "key irreps per seed", "; ".join(f"seed {row['seed']}: {row['key irreps']}" for row in mlp),
            "each network computes the group operation on a few key irreps", "§5-6",
            "yes" if len(few) == len(mlp) else "no",
            "agrees when every seed has 1 to 3 key irreps (logit similarity above metrics.rep.key_irrep_threshold); "
            "final logit similarity of the non-trivial irreps: " + "; ".join(
                f"seed {row['seed']} " + ", ".join(f"{name} {value:.2f}" for name, value in row["_similarity"].items())
                for row in mlp) + ("" if scale == "paper" or len(few) == len(mlp) else
                                   ". On S_4 every non-trivial irrep keeps a logit similarity far above the "
                                   "threshold, which is set for S_5, where the irreps a run does not use fall to "
                                   "about 0: the comparison that counts is the S_5 run of the paper scale")))
        sets = {tuple(row["_key"]) for row in mlp}
        claims.append(Claim(
            "which irreps", f"{len(sets)} distinct key-irrep sets over {len(mlp)} seeds",
            "which irreps are learned varies with the seed (weak universality); on S_5 the 4-dim standard and "
            "standard-sign irreps most often, 5- and 6-dim ones less", "§6",
            ("yes" if len(sets) > 1 else "no") if scale == "paper" else "pending",
            "" if scale == "paper" else "no verdict: the variation between seeds is measured on S_4 at this scale, "
            "and which irreps S_5 networks learn waits for the paper scale"))
    if transformer:
        row = transformer[0]
        claims.append(Claim(
            "transformer", f"seed {row['seed']}: test accuracy 0.99 at epoch {number(row['test grok'])}, key irreps "
                           f"{row['key irreps']}",
            "the transformer learns the same kind of algorithm, on a few irreps", "§5-6",
            ("yes" if 1 <= len(row["_key"]) <= 3 else "no") if row["test grok"] is not None else
            ("pending" if row["epochs"] < TRANSFORMER_EPOCHS else "no"),
            "" if row["test grok"] is not None else f"it did not generalise within its {row['epochs']} epochs "
            f"(final test accuracy {row['final test acc']:.2f}; the paper trains {TRANSFORMER_EPOCHS:,}), so its key "
            "irreps are those of a memorising network" + (": no verdict before the paper's run length"
                                                           if row["epochs"] < TRANSFORMER_EPOCHS else "")))
    return claims
