"""Metric families are plug-ins: a family from outside the package runs with its config, scalars, arrays and
plot; families asked for where they do not apply say so once; the metrics node accepts only families."""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pytest

from grokscope.config import ConfigError, require
from grokscope.figures import figure
from grokscope.metrics import (
    BUILTIN,
    FunctionMetric,
    MetricFamily,
    MetricFamilyConfig,
    build_metrics,
    families,
    register_family,
)
from grokscope.paths import CONF_DIR
from grokscope.run import build
from grokscope.run.config import validate
from tests.helpers.config import assert_config_error, make_config
from tests.helpers.runs import train


@dataclass
class ToyConfig(MetricFamilyConfig):
    """``metrics.toy``: ``scale`` times the squared norm of ``W_E``."""

    scale: float

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require(self.scale > 0, f"{prefix}.scale", self.scale, "must be > 0")


def toy_values(cfg: ToyConfig):
    def values(model, task) -> dict:
        power = model.W_E.detach().pow(2).sum(dim=-1).cpu().numpy()  # [d_vocab]
        return {"toy/scaled_norm": cfg.scale * float(power.sum()), "toy/row_power": power}

    return FunctionMetric(values)


def toy_plots(record):
    fig, ax = figure((4, 3))
    ax.plot(*record.series("toy/scaled_norm"))
    yield "toy_norm", fig


TOY = MetricFamily("toy", ToyConfig, build=lambda cfg, task, model: toy_values(cfg), plots=toy_plots)


def test_a_family_from_a_test_module_logs_scalars_arrays_and_its_plot(tmp_path, monkeypatch):
    monkeypatch.setattr(families, "_REGISTERED", dict(families._REGISTERED))  # registered for this test only
    register_family(TOY)
    summary = train(tmp_path, "task.p=11", "max_epochs=20", "metrics=none", "metrics.every_n_epochs=10", "plots=true",
                    "+metrics.toy={enabled:true,scale:2.0}")
    with open(tmp_path / "metrics.csv") as f:
        rows = [row for row in csv.DictReader(f) if row["toy/scaled_norm"]]
    assert [int(row["epoch"]) for row in rows] == [0, 10, 20]
    assert summary["final"]["toy/scaled_norm"] == pytest.approx(float(rows[-1]["toy/scaled_norm"]))
    with np.load(tmp_path / "arrays" / "toy.npz") as arrays:
        assert arrays["epochs"].tolist() == [0, 10, 20]
        assert np.isclose(2.0 * arrays["row_power"][-1].sum(), summary["final"]["toy/scaled_norm"])
    assert (tmp_path / "plots" / "toy_norm.png").read_bytes()[:4] == b"\x89PNG"
    assert_config_error("metrics.toy.scale", "+metrics.toy={enabled:true,scale:-1.0}")


def test_a_metrics_node_that_names_no_family_is_refused():
    with pytest.raises(ConfigError) as err:
        validate(make_config("+metrics.spectra={enabled:true}"))
    assert err.value.key == "metrics.spectra" and "weights, fourier, rep, progress, pizza, circles" in str(err.value)
    with pytest.raises(ConfigError) as err:  # the flat spelling of a family replaces its node
        validate(make_config("metrics.progress=true"))
    assert err.value.key == "metrics.progress" and "metrics.progress.enabled=true" in str(err.value)


def test_a_family_asked_for_that_does_not_apply_says_so_once(capsys):
    config = validate(make_config("model=transformer", "model.attn_only=true", "task.p=11", "metrics=none",
                                  "metrics.progress.enabled=true", "metrics.weights.enabled=true"))
    task, model = build(config)
    assert [active.family.name for active in build_metrics(config.metrics, task, model)] == ["weights"]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("metrics.progress.enabled=true: skipped") and \
        "hidden layer" in lines[0]


def test_auto_families_run_where_they_apply():
    def names(*overrides):
        config = validate(make_config(*overrides))
        return {active.family.name for active in build_metrics(config.metrics, *build(config))}

    assert names("task.p=11") == {"weights", "fourier", "progress"}  # rep: progress/ is its cyclic case
    assert names("task=composition", "group=symmetric", "group.n=3") == {"weights", "rep"}
    assert names("task.p=11", "metrics=none") == set()


#: options whose full size does not fit a test machine (the fit check refuses them): made smaller
SMALLER = {"oocl": ("task.p=31",)}


@pytest.mark.parametrize("group", ["task", "model", "optimizer", "metrics", "logger", "group", "intervention",
                                   "metrics/family"])
def test_every_shipped_option_has_its_schema(group):
    """Registration is explicit: every YAML option the package ships validates, so a schema missing from a
    package's SCHEMAS (or a family missing from metrics/families.py) fails here, loudly."""
    options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))
    assert options
    for option in options:
        if group == "metrics/family":
            overrides = ("metrics=none", f"metrics.{option}.enabled=true")
        elif group == "group":
            overrides = ("task=composition", f"group={option}")
        elif group == "intervention":
            overrides = (f"intervention=[{option}]",) if option != "none" else ("intervention=none",)
        else:
            overrides = (f"{group}={option}",)
        validate(make_config(*overrides, *SMALLER.get(option, ())))
    if group == "metrics/family":
        assert options == sorted(family.name for family in BUILTIN), "a family without its YAML, or the reverse"
