"""Nanda et al. 2023, "Progress measures for grokking via mechanistic interpretability" (ICLR 2023):
grokking of (a+b) mod p by the one-layer transformer of ``experiment=nanda_2023``, its key frequencies and the
progress measures with the final key frequencies (nanda_progress_measures.md §3-5)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from grokscope.analysis import collect
from grokscope.analysis.remetric import remetric
from grokscope.reproduce.plan import Plan, Sweep
from grokscope.reproduce.report import Claim, Findings
from grokscope.reproduce.runs import completed, first_epoch, grok_epoch, number
from grokscope.run.load import load_run

NAME = "nanda_2023"
TITLE = "Nanda et al. 2023: progress measures for grokking"
#: what the cut scales leave for ``--scale paper`` (a GPU)
PAPER_SCALE = "40k epochs for the three seeds and the training fractions 0.3-0.7 each for 40k epochs"
FRACTIONS = (0.3, 0.4, 0.5, 0.6, 0.7)
#: the cpu scale's run lengths: the seeds long enough for memorisation, circuit formation and most of cleanup
#: (the paper's main run: 1.4k / 9.4k / 13.4k), the fractions long enough for 0.4 to grok
CPU_EPOCHS, CPU_FRACTION_EPOCHS = 12_000, 3_000
#: the paper's run length (§3)
PAPER_EPOCHS = 40_000
#: a one-layer transformer of a few thousand parameters on (a+b) mod 13, for the tests of the command
TINY = ("task.p=13", "model.d_model=16", "model.n_heads=2", "model.d_head=8", "model.d_mlp=32", "max_epochs=40",
        "log_every_n_epochs=10", "metrics.every_n_epochs=20", "checkpoint_every_n_epochs=20")


#: the paper's phase boundaries of its main run (§5.1: memorisation 0-1.4k, circuit formation 1.4k-9.4k, cleanup
#: 9.4k-13.4k), by the first epoch of the next phase in :class:`~grokscope.metrics.phases.Phases`' terms
PAPER_PHASES = {"circuit_formation": ("end of memorisation", 1400), "cleanup": ("end of circuit formation", 9400),
                "stable": ("end of cleanup", 13400)}


def plan(scale: str) -> Plan:
    """``seeds``: seeds 0-2 of the main run, one ensemble process (snapshots every 100 epochs for the
    final-key-set metrics); ``fractions``: the training fraction swept over 0.3-0.7 (seed 0, no snapshots; at the
    cpu scale 0.3 is seed 0 of ``seeds``)."""
    if scale == "paper":
        return Plan(scale, (Sweep("seeds", NAME, {"seed": (0,)}, ("ensemble.size=3",)),
                            Sweep("fractions", NAME, {"task.frac_train": FRACTIONS, "seed": (0,)},
                                  ("snapshot_every_n_epochs=null",))))
    if scale == "cpu":
        return Plan(scale, (
            Sweep("seeds", NAME, {"seed": (0,)}, ("ensemble.size=3", f"max_epochs={CPU_EPOCHS}")),
            Sweep("fractions", NAME, {"task.frac_train": FRACTIONS[1:], "seed": (0,)},
                  (f"max_epochs={CPU_FRACTION_EPOCHS}", "snapshot_every_n_epochs=null"))),
            cuts=(f"the three seeds (the paper's setting: p = 113, 30% of the pairs, the preset's model and "
                  f"optimizer) train {CPU_EPOCHS:,} epochs instead of 40k: memorisation, circuit formation and most "
                  "of cleanup (the paper's main run ends cleanup at about 14k)",
                  f"the training fractions 0.4-0.7 (p = 113, seed 0) train {CPU_FRACTION_EPOCHS:,} epochs instead of "
                  "40k, one seed (0.4 generalises by epoch 2000); 0.3 is seed 0 of the three seeds"),
            estimate="about an hour on 2 idle cores (the seeds about 45 min, the fractions about 15)")
    return Plan(scale, (Sweep("seeds", NAME, {"seed": (0,)}, (*TINY, "ensemble.size=2", "snapshot_every_n_epochs=10")),
                        Sweep("fractions", NAME, {"task.frac_train": (0.5, 0.7), "seed": (0,)},
                              (*TINY, "snapshot_every_n_epochs=null"))),
                cuts=("tiny: p = 13, d_model 16, 40 epochs",), estimate="about a minute")


def measure(runs: Path, scale_plan: Plan) -> Findings:
    """Per seed: grokking epochs, final key frequencies, the phases and the Gini / weight norm with the final
    key frequencies (:func:`~grokscope.analysis.remetric.remetric` over the snapshots); per training fraction:
    the grokking epoch."""
    findings = Findings()
    seed_runs = completed(runs / "seeds", findings)
    fraction_runs = completed(runs / "fractions", findings)
    swept = {summary["config"]["task"]["frac_train"] for _, summary in fraction_runs}
    fraction_runs += [(run_dir, summary) for run_dir, summary in seed_runs  # the cpu scale's 0.3: seed 0
                      if summary["config"]["seed"] == 0 and summary["config"]["task"]["frac_train"] not in swept]
    seeds = [_seed_row(run_dir, summary) for run_dir, summary in seed_runs]
    fractions = sorted((_fraction_row(run_dir, summary) for run_dir, summary in fraction_runs),
                       key=lambda row: row["frac_train"])
    findings.tables += [("Seeds (grokking, key frequencies, phases with the final key frequencies)",
                         [{k: number(v) for k, v in row.items() if k[0] != "_"}
                          for row in seeds]),
                        ("Training fraction (seed 0)", [{k: number(v) for k, v in row.items() if k[0] != "_"}
                                                        for row in fractions])]
    findings.claims += _claims(seeds, fractions, scale_plan.scale)
    if seeds:
        findings.tables.append(("Phase boundaries beside the paper's main run (a difference over a fifth is "
                                "accounted for)", [_boundaries(s) for s in seeds]))
    if seeds:
        remetric_plots = Path(seeds[0]["_run_dir"]) / "remetric" / "plots"
        findings.figures += [(f"Seed {seeds[0]['seed']}: {caption}", remetric_plots / f"{name}.png")
                             for name, caption in (("losses", "train, test, restricted and excluded loss with "
                                                    "the phase boundaries (final key frequencies)"),
                                                   ("gini", "Gini of the Fourier norms of W_E and W_L"),
                                                   ("weight_norm", "weight norm"))
                             if (remetric_plots / f"{name}.png").is_file()]
    if len(fractions) > 1:
        out = runs / "fractions" / "analysis"
        collect.write_curves(collect.curves([run_dir for run_dir, _ in fraction_runs], ["test/acc"]), out)
        findings.figures.append(("Test accuracy over epochs by training fraction (seed 0)",
                                 collect.curves_path(out, "test/acc")))
    return findings


def _remetric(run_dir: Path) -> tuple[list[int], dict[str, int], list[dict]]:
    """The final key frequencies, the phase boundaries and the per-snapshot history of
    :func:`~grokscope.analysis.remetric.remetric` for one seed: read back from ``run_dir/remetric`` when that was
    written after the run finished over the same snapshots (rewriting a report does not recompute them), else
    computed there."""
    out = run_dir / "remetric"
    saved, table = out / "summary.json", out / "metrics.csv"
    if saved.is_file() and table.is_file() and saved.stat().st_mtime > (run_dir / "finished.json").stat().st_mtime:
        record = json.loads(saved.read_text())
        if record.get("snapshot_epochs") == load_run(run_dir).snapshot_epochs:
            with open(table, newline="") as handle:
                history = [{k: int(v) if k == "epoch" else float(v) for k, v in row.items() if v != ""}
                           for row in csv.DictReader(handle)]
            phases = {k: v for k, v in (record.get("phases") or {}).items() if v is not None}
            return record["key_freqs"], phases, history
    result = remetric(load_run(run_dir), out)
    return result.key_sets["progress"], (result.phases.boundaries() if result.phases else {}), result.history


def _seed_row(run_dir: Path, summary: dict) -> dict:
    config = summary["config"]
    key_freqs, phases, history = _remetric(run_dir)
    at_formation = next((row for row in history if row["epoch"] == phases.get("circuit_formation")), history[0])
    return {"seed": config["seed"], "p": config["task"]["p"], "frac_train": config["task"]["frac_train"],
            "epochs": summary["epochs"], "train grok": grok_epoch(summary, "train"), "test grok": grok_epoch(summary),
            "final test acc": summary["final"]["test/acc"], "_test_loss": summary["final"]["test/loss"],
            "key freqs": " ".join(map(str, key_freqs)),
            "circuit formation": phases.get("circuit_formation"), "cleanup": phases.get("cleanup"),
            "stable": phases.get("stable"),
            "Gini W_E (formation -> final)": f"{number(at_formation['progress/gini_W_E'])} -> "
                                            f"{number(history[-1]['progress/gini_W_E'])}",
            "weight norm (formation -> final)": f"{number(at_formation['weights/norm'])} -> "
                                                f"{number(history[-1]['weights/norm'])}",
            "_run_dir": str(run_dir), "_n_freqs": len(key_freqs), "_p": config["task"]["p"],
            "_gini": (at_formation["progress/gini_W_E"], history[-1]["progress/gini_W_E"]),
            "_norm": (at_formation["weights/norm"], history[-1]["weights/norm"]), "_phases": phases}


def _fraction_row(run_dir: Path, summary: dict) -> dict:
    return {"frac_train": summary["config"]["task"]["frac_train"], "epochs": summary["epochs"],
            "train grok": grok_epoch(summary, "train"), "test grok": grok_epoch(summary),
            "test loss < 1": first_epoch(run_dir, "test/loss", below=1.0), "p": summary["config"]["task"]["p"],
            "_resolution": summary["config"]["log_every_n_epochs"],
            "final test acc": summary["final"]["test/acc"], "final test loss": summary["final"]["test/loss"]}


def _claims(seeds: list[dict], fractions: list[dict], scale: str) -> list[Claim]:
    """The claims; a seed that has not generalised within a run cut short of the paper's 40k epochs cannot be
    judged (it may grok later): the grokking claim is then "pending", and the claims about the generalising
    circuit (phases, key frequencies, Gini and weight norm) are judged over the seeds that generalised."""
    claims = []
    if seeds:
        setting = _setting(seeds)
        at = f"the paper's setting ({setting}), {max(s['epochs'] for s in seeds):,} epochs" if setting else ""
        grokked = [s for s in seeds if s["test grok"] is not None]
        unresolved = [s for s in seeds if s["test grok"] is None and s["epochs"] < PAPER_EPOCHS]
        delayed = [s for s in grokked if s["test grok"] >= 2 * (s["train grok"] or 0)]
        test, train = (", ".join(number(s[k]) for s in seeds) for k in ("test grok", "train grok"))
        waiting = "; ".join(f"seed {s['seed']} had not generalised by epoch {s['epochs']:,} (final test accuracy "
                            f"{s['final test acc']:.2f}, test loss {s['_test_loss']:.3g}; the paper trains "
                            f"{PAPER_EPOCHS:,})" for s in unresolved)
        claims.append(Claim(
            "grokking", f"{len(delayed)} of {len(seeds)} seeds generalise late: test accuracy >= 0.99 at epochs "
            f"{test}, train at {train}",
            "the network memorises first and generalises thousands of epochs later (p = 113, 30%)", "§3, Fig. 1",
            "pending" if unresolved and len(delayed) == len(grokked) else
            ("yes" if len(delayed) == len(seeds) else "no"),
            "counted as grokking when test accuracy reaches 0.99 at least twice as late as train accuracy"
            + (f". No verdict yet: {waiting}" if unresolved else ""), measured_at=at))
        judged = grokked if unresolved else seeds
        left_out = (" (over the seeds that generalised; not yet: seed " + ", ".join(str(s["seed"]) for s in unresolved)
                    + ")") if unresolved else ""
        ordered = [s for s in judged if _ordered(s["_phases"])]
        claims.append(Claim(
            "phases", "circuit formation -> cleanup -> stable at " + "; ".join(
                f"{number(s['circuit formation'])} -> {number(s['cleanup'])} -> {number(s['stable'])}" for s in seeds),
            "memorisation 0-1.4k, circuit formation 1.4k-9.4k, cleanup 9.4k-13.4k epochs (main run)", "§5.1",
            _judged(ordered, judged),
            "boundaries read off the curves with the final key frequencies (grokscope.metrics.phases); the "
            "verdict checks their order" + ("" if setting else ": the epochs are not comparable to the paper's "
                                            "outside its setting") + left_out, measured_at=at))
        sparse = [s for s in judged if 1 <= s["_n_freqs"] <= 7]
        claims.append(Claim(
            "key frequencies", "; ".join(f"seed {s['seed']}: {s['key freqs']} ({s['_n_freqs']} of "
                                         f"{(s['_p'] - 1) // 2})" for s in seeds),
            "a handful of key frequencies: 5 (14, 35, 41, 42, 52) in the main run", "§4, Fig. 1",
            _judged(sparse, judged),
            "agrees when every seed uses between 1 and 7 of the (p - 1) / 2 frequencies (the final model's, from "
            "its neurons); every frequency key is no sparsity, so \"no\"" + left_out, measured_at=at))
        rises = [s for s in judged if s["_gini"][1] > s["_gini"][0] and s["_norm"][1] < s["_norm"][0]]
        claims.append(Claim(
            "Gini and weight norm", f"Gini of W_E rises and the weight norm falls from circuit formation to the "
                                    f"end in {len(rises)} of {len(judged)} seeds{left_out}",
            "the Gini coefficients rise and the total weight norm falls through circuit formation and cleanup",
            "§5.4-5.5", _judged(rises, judged), measured_at=at))
    if fractions:
        grokked = [f for f in fractions if f["test grok"] is not None]
        smallest = min((f["frac_train"] for f in grokked), default=None)
        resolution = max(f["_resolution"] for f in fractions)
        inversions = [(f, g) for f, g in zip(grokked, grokked[1:]) if g["test grok"] > f["test grok"]]
        monotone = bool(grokked) and all(g["test grok"] - f["test grok"] <= resolution for f, g in inversions) and all(
            f["frac_train"] < smallest for f in fractions if f not in grokked)
        claims.append(Claim(
            "training fraction", "test grok epoch (test loss < 1) by fraction: " + ", ".join(
                f"{f['frac_train']:g}: {number(f['test grok'])} ({number(f['test loss < 1'])})" for f in fractions),
            "smaller training fractions grok later; below some fraction not within the budget",
            "not stated as numbers (§3, qualitative)", "yes" if monotone else "no",
            f"agrees when the grokking epoch never rises with the fraction by more than the {resolution} epochs "
            "between two logged evaluations (the resolution of a grokking epoch) and only the smallest fractions "
            "fail" + "".join(f"; {g['frac_train']:g} groks at {g['test grok']:,}, after {f['frac_train']:g} at "
                             f"{f['test grok']:,}" for f, g in inversions),
            measured_at=f"p = {fractions[0]['p']}, seed 0, " + ", ".join(
                f"{f['frac_train']:g}: {f['epochs']:,}" for f in fractions) + " epochs"))
    return claims


def _judged(agreeing: list, judged: list) -> str:
    """"yes" when every judged seed agrees, "no" when one does not, "pending" when none could be judged."""
    return "pending" if not judged else ("yes" if len(agreeing) == len(judged) else "no")


def _boundaries(seed: dict) -> dict:
    """One seed's phase boundaries beside the paper's, each as ``epoch (ratio to the paper's)``, and the
    account of those more than a fifth away from the paper's."""
    row, off, missing = {"seed": seed["seed"]}, [], []
    for key, (name, paper) in PAPER_PHASES.items():
        epoch = seed["_phases"].get(key)
        row[f"{name} (paper {paper:,})"] = "-" if epoch is None else f"{epoch:,} ({epoch / paper:.2f})"
        if epoch is None:
            missing.append(name)
        elif abs(epoch / paper - 1) > 0.2:
            off.append(f"{name} {'earlier' if epoch < paper else 'later'}")
    accounts = []
    if off:
        grok = seed["test grok"]
        accounts.append(", ".join(off) + " than the paper's main run: " + (
            f"this seed generalises (test accuracy 0.99) at epoch {grok:,}, and its phases move with that epoch; "
            "seeds of one setting generalise thousands of epochs apart (the grokking epochs above), and the "
            "paper places its boundaries by eye on one run" if grok is not None else
            "this seed has not generalised within the run"))
    if missing:
        accounts.append(f"{' and '.join(missing)}: not reached within the run's {seed['epochs']:,} epochs")
    row["account"] = "; ".join(accounts) or "within a fifth of the paper's"
    return row


def _setting(seeds: list[dict]) -> str:
    """"p = 113, 30%, seeds 0-2" where every seed ran at the paper's p and training fraction, else ""."""
    if all(s["_p"] == 113 and s["frac_train"] == 0.3 for s in seeds):
        return f"p = 113, 30%, seeds {', '.join(str(s['seed']) for s in seeds)}"
    return ""


def _ordered(phases: dict) -> bool:
    marks = [phases.get(k) for k in ("circuit_formation", "cleanup", "stable")]
    return None not in marks and marks[0] < marks[1] <= marks[2]
