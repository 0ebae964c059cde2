"""Clock vs pizza (Zhong et al. 2023): attention rate, the linear models, the pizza/ metrics, phase diagrams."""

from __future__ import annotations

import json
import math
import random

import pandas as pd
import pytest
import torch
from einops import einsum

from grokscope.analysis.phase_diagram import ALPHA, DI, GS, circular_runs, phase_diagrams
from grokscope.cli.analyze import main as analyze
from grokscope.metrics import build_metrics
from grokscope.metrics.circles import circle_template_fve, circularity, pizza_template, principal_components
from grokscope.metrics.pizza import (
    PizzaMetrics,
    distance_irrelevance,
    gradient_symmetricity,
    logit_matrix,
    logit_shape_statistics,
    symmetricity_sample,
)
from grokscope.models import GrokModel, run_with_cache
from grokscope.run import build
from grokscope.run.config import validate
from tests.helpers.cli import cli
from tests.helpers.config import assert_config_error, make_config
from tests.helpers.runs import train

SMALL_TRANSFORMER = ("experiment=pizza_2023", "task.p=11", "model.d_model=16")
ATTN = [f"blocks.0.attn.hook_{h}" for h in ("q", "k", "v", "pattern", "z")]


def built(*overrides: str):
    return build(validate(make_config(*overrides)))


def attention_cache(*overrides: str) -> dict[str, torch.Tensor]:
    task, model = built(*SMALL_TRANSFORMER, *overrides)
    return run_with_cache(model, task.tokens, ATTN)[1]


def softmax_pattern(cache) -> torch.Tensor:
    q, k = cache["blocks.0.attn.hook_q"], cache["blocks.0.attn.hook_k"]
    return (einsum(q, k, "b q h e, b k h e -> b h q k") / math.sqrt(q.shape[-1])).softmax(dim=-1)


@pytest.mark.parametrize("alpha", [1.0, 0.25])
def test_attention_rate_mixes_softmax_and_constant(alpha):
    cache = attention_cache(f"model.attention_rate={alpha}")
    pattern, v, z = (cache[f"blocks.0.attn.hook_{h}"] for h in ("pattern", "v", "z"))
    assert torch.allclose(pattern, alpha * softmax_pattern(cache) + (1 - alpha), atol=1e-6)
    assert torch.allclose(z, einsum(pattern, v, "b h q k, b k h e -> b q h e"), atol=1e-6)
    if alpha == 1.0:  # ordinary attention: rows are distributions
        assert torch.allclose(pattern.sum(dim=-1), torch.ones(()), atol=1e-6)


def test_attention_rate_zero_gives_every_position_the_sum_of_values():
    cache = attention_cache("model.attention_rate=0")
    v, z = cache["blocks.0.attn.hook_v"], cache["blocks.0.attn.hook_z"]  # [batch, pos, head, d_head]
    assert torch.equal(cache["blocks.0.attn.hook_pattern"], torch.ones_like(cache["blocks.0.attn.hook_pattern"]))
    for position in range(z.shape[1]):
        assert torch.allclose(z[:, position], v.sum(dim=1), atol=1e-6)


def test_causal_constant_attention_stays_causal():
    pattern = attention_cache("model.attention_rate=0.5", "model.causal=true", "task.equals_token=true")[ATTN[3]]
    visible = torch.ones(3, 3, dtype=torch.bool).tril()
    assert torch.all(pattern[..., ~visible] == 0) and torch.all(pattern[..., visible] > 0.5)


def test_pizza_transformer_matches_the_original():
    task, model = built("experiment=pizza_model_a")
    assert (model.cfg.d_head, model.cfg.d_mlp, task.n_ctx, model.W_U.shape) == (32, 512, 2, (128, 59))
    assert sum(p.numel() for p in model.parameters()) == 212_608  # pizza.md §2
    assert abs(model.blocks[0].mlp.W_in.std().item() - 1 / math.sqrt(512)) < 0.002


def test_model_c_applies_the_first_layer_to_each_operand():
    task, model = built("experiment=pizza_linear", "model=pizza_c", "task.p=11")
    l1, l2 = model.layers
    ea, eb = model.W_E[task.tokens[:, 0]], model.W_E[task.tokens[:, 1]]
    h = torch.relu(torch.relu((ea @ l1.W_in + l1.b_in) + (eb @ l1.W_in + l1.b_in)) @ l2.W_in + l2.b_in)
    assert torch.allclose(model(task.tokens), h @ model.W_U, atol=1e-5)


@pytest.mark.parametrize(("preset", "symmetric"), [("a", True), ("b", True), ("c", True), ("x", True), ("d", False)])
def test_linear_models_gradient_symmetricity(preset, symmetric):
    task, model = built("experiment=pizza_linear", f"model=pizza_{preset}", "task.p=11")
    rows, classes = symmetricity_sample(len(task.labels), task.n_classes, 100, 42)
    gs = gradient_symmetricity(model, task.tokens[rows], classes, model.operand_slots(task.operand_positions))
    assert (abs(gs - 1) < 1e-6) == symmetric, gs


def test_symmetricity_sample_is_the_originals():
    p = 11
    triples = [(a, b, c) for a in range(p) for b in range(p) for c in range(p)]
    random.Random(42).shuffle(triples)
    rows, classes = symmetricity_sample(p * p, p, 100, 42)
    assert [(r // p, r % p, c) for r, c in zip(rows.tolist(), classes.tolist())] == triples[:100]


@pytest.mark.parametrize("gs_tokens", ["task", "raw"])
def test_gradient_symmetricity_tokens_follow_the_task_layout(gs_tokens):
    config = validate(make_config(*SMALL_TRANSFORMER, "task.equals_token=true", "task.separate_operand_vocab=true",
                                  f"metrics.pizza.gs_tokens={gs_tokens}"))
    task, _ = build(config)
    tokens = PizzaMetrics(config.metrics.pizza, task).gs_tokens
    a, b = tokens[:, 0], tokens[:, 1]
    if gs_tokens == "task":
        assert tokens.shape == (100, 3) and torch.all(tokens[:, 2] == 22) and torch.all((b >= 11) & (b < 22))
    else:  # the original feeds literally [a, b]
        assert tokens.shape == (100, 2) and torch.all(b < 11)
    assert torch.all(a < 11)


def logit_table(task, q: torch.Tensor) -> torch.Tensor:
    """Logits whose correct entry is ``q [N]`` and whose other entries are ``q - 1``."""
    wrong = (q - 1)[:, None].expand(-1, task.n_classes)
    return wrong.scatter(1, task.labels[:, None], q[:, None])


@pytest.mark.parametrize("variant", ["correct", "max_wrong"])
def test_distance_irrelevance_orientation(variant):
    task = validate(make_config(*SMALL_TRANSFORMER)).task.build(0)
    p, (a, b) = task.modulus, task.operands.T
    f = torch.randn(p, generator=torch.Generator().manual_seed(0))
    only_sum, only_difference = f[(a + b) % p], f[(a - b) % p]
    assert distance_irrelevance(logit_matrix(logit_table(task, only_sum), task, variant)) == pytest.approx(1)
    assert distance_irrelevance(logit_matrix(logit_table(task, only_difference), task, variant)) == pytest.approx(0)
    stats = logit_shape_statistics(logit_matrix(logit_table(task, only_sum), task, "max_wrong"))
    assert stats["pizza/std_med_col"] == pytest.approx(0, abs=1e-6) and stats["pizza/mean_std_row"] == 0


def circle(p: int, *freqs: int, d: int = 16) -> torch.Tensor:
    """Rows ``x = 0..p-1``: circles at ``freqs`` (radii 1, 1/2, ...: distinct, so that PCA can separate them)
    in a random orthonormal frame of R^d, plus an offset."""
    angles = 2 * math.pi * torch.arange(p, dtype=torch.float64)[:, None] * torch.tensor(freqs) / p
    radii = 1 / torch.arange(1, len(freqs) + 1, dtype=torch.float64).repeat(2)
    waves = torch.cat([angles.cos(), angles.sin()], dim=1) * radii
    frame = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    return waves @ frame[: waves.shape[1]] + 0.3


def test_circularity():
    p = 23
    assert circularity(principal_components(circle(p, 5)).scores, p) == pytest.approx(1)
    assert circularity(principal_components(circle(p, 5, 9)).scores, p) == pytest.approx(1)
    noise = torch.randn(p, 16, generator=torch.Generator().manual_seed(1))
    assert circularity(principal_components(noise).scores, p) < 0.6
    # the original's rows=all quirk: the same circle in separate b rows halves the circularity
    both = torch.cat([circle(p, 5), circle(p, 5)])
    assert circularity(principal_components(both).scores, p) == pytest.approx(0.5)


class CircleModel(GrokModel):
    """Logits from a 2-D circle embedding ``(cos wx, sin wx)``: the clock ``cos(w(a + b - c))`` or the pizza
    template, computed from the embedding vectors."""

    def __init__(self, p: int, k: int, algorithm: str):
        super().__init__()
        self.w, self.algorithm = 2 * math.pi * k / p, algorithm
        angles = self.w * torch.arange(p, dtype=torch.float64)
        self.W_E = torch.nn.Parameter(torch.stack([angles.cos(), angles.sin()], dim=1))
        self.c = torch.arange(p, dtype=torch.float64)

    def forward(self, tokens):
        ea, eb = self.W_E[tokens[:, 0]], self.W_E[tokens[:, 1]]
        if self.algorithm == "clock":  # Re(e^{iwa} e^{iwb} e^{-iwc})
            za, zb = torch.complex(ea[:, 0], ea[:, 1]), torch.complex(eb[:, 0], eb[:, 1])
            return ((za * zb)[:, None] * torch.exp(-1j * self.w * self.c)).real
        sum_cos, sum_sin = (ea + eb)[:, :1], (ea + eb)[:, 1:]
        half = self.w * self.c / 2
        return (torch.cos(half) * sum_cos + torch.sin(half) * sum_sin).abs() - (
            -torch.sin(half) * sum_cos + torch.cos(half) * sum_sin).abs()


@pytest.mark.parametrize("algorithm", ["clock", "pizza"])
def test_template_fve_finds_the_frequency_and_the_algorithm(algorithm):
    task, _ = built(*SMALL_TRANSFORMER)
    out = circle_template_fve(CircleModel(11, 3, algorithm), task)
    assert set(out) == {"pizza/circle1_freq", "pizza/circle1_fve_clock", "pizza/circle1_fve_pizza"}
    other = "pizza" if algorithm == "clock" else "clock"
    assert out["pizza/circle1_freq"] == 3
    assert out[f"pizza/circle1_fve_{algorithm}"] == pytest.approx(1) and out[f"pizza/circle1_fve_{other}"] < 0.9


def test_pizza_template_closed_form():
    p, k = 11, 4
    a, b, c = torch.meshgrid(*[torch.arange(p, dtype=torch.float64)] * 3, indexing="ij")
    tokens = torch.stack([a[:, :, 0].flatten(), b[:, :, 0].flatten()], dim=1).long()
    by_sums = CircleModel(p, k, "pizza")(tokens).reshape(p, p, p)  # the paper's form, from S_c and S_s
    assert torch.allclose(by_sums, pizza_template(a, b, c, 2 * math.pi * k / p))


BAD = [
    (["model=transformer", "model.attention_rate=1.5"], "model.attention_rate"),
    (["experiment=pizza_model_a", "model.attention_rate=-0.1"], "model.attention_rate"),
    (["experiment=pizza_model_b", "model.d_model=130"], "model.d_model"),
    (["model=pizza_c", "model.hidden=[]"], "model.hidden"),
    (["metrics.pizza.gs_tokens=bad"], "metrics.pizza.gs_tokens"),
    (["metrics.pizza.circularity_rows=some"], "metrics.pizza.circularity_rows"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD)
def test_bad_pizza_config_names_the_key(overrides, key):
    assert_config_error(key, *overrides)


def test_pizza_metrics_asked_for_off_modular_addition_say_so_in_one_line(capsys):
    config = validate(make_config("metrics.pizza.enabled=true", "task.op=mul", "task.p=11"))
    task, model = build(config)
    assert "pizza" not in [active.family.name for active in build_metrics(config.metrics, task, model)]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("metrics.pizza.enabled=true: skipped") and "modular_mul" in lines[0]


def test_cli_indivisible_width_one_line(tmp_path):
    proc = cli("experiment=pizza_model_b", "model.d_model=130", "logger=csv", cwd=tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and "model.d_model=130" in lines[0], proc.stderr


@pytest.mark.slow  # a whole recipe, end to end (a sweep of runs): its parts are in the fast tier
def test_phase_diagram_from_a_small_sweep(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = cli("-m", *SMALL_TRANSFORMER, "model.attention_rate=0,0.5,1", "max_epochs=20", "metrics.every_n_epochs=20",
               "logger=csv", "progress_bar=false", "checkpoint_every_n_epochs=20", f"hydra.sweep.dir={sweep_dir}",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    analyze(["phase-diagram", str(sweep_dir), "--min-circularity", "0", "--out", str(tmp_path / "plots")])
    assert (tmp_path / "plots" / "phase_attention_rate.png").stat().st_size > 0
    assert not (tmp_path / "plots" / "phase_width.png").exists()  # d_model does not vary
    with pytest.raises(SystemExit) as exit_:  # an impossible circularity filter leaves no run: one error line
        analyze(["phase-diagram", str(sweep_dir), "--min-circularity", "2"])
    assert exit_.value.code == 2


def test_phase_diagrams_filter_on_circularity_and_plot_width(tmp_path):
    alphas, widths = [0.0, 0.5, 1.0] * 2, [32] * 3 + [128] * 3
    runs = pd.DataFrame({"status": ["completed"] * 5 + ["failed"], ALPHA: alphas, "model.d_model": widths,
                         GS: [0.99, 0.9, 0.7, 0.99, 0.95, 0.8], DI["correct"]: [0.2, 0.5, 0.9, 0.1, 0.3, 0.8],
                         "pizza/circularity": [0.999, 0.99, 0.998, 0.997, 0.996, 0.999]})
    assert circular_runs(runs, DI["correct"], 0.995).index.tolist() == [0, 2, 3, 4]
    paths = phase_diagrams(runs, tmp_path)
    assert [p.name for p in paths] == ["phase_attention_rate.png", "phase_width.png"]
    assert all(p.stat().st_size > 0 for p in paths)


@pytest.mark.slow
def test_archetypes_model_a_pizza_model_b_clock(tmp_path):
    """1000 of the paper's 20k epochs of Model A (α = 0) and Model B (α = 1), seed 0 (about 6 min on one core).
    Measured: A GS 0.994, DI 0.51 (max-wrong 0.61), its main circle fits the pizza template (0.95 vs clock 0.73);
    B GS 0.757, DI 0.69 (max-wrong 0.84), its main circle fits the clock template (0.86 vs pizza 0.78)."""
    final = {}
    for name in ("a", "b"):
        summary = train(tmp_path / name, f"experiment=pizza_model_{name}", "max_epochs=1000",
                        "metrics.every_n_epochs=500")
        final[name] = summary["final"]
        print(name, json.dumps({k: v for k, v in final[name].items() if k.startswith(("pizza/", "test/acc"))}))
    a, b = final["a"], final["b"]
    assert a["test/acc"] > 0.99 and b["test/acc"] > 0.99
    assert a[GS] > 0.98 and a[GS] > b[GS] + 0.1
    for di in DI.values():
        assert a[di] < b[di] - 0.1
    assert a["pizza/circle1_fve_pizza"] > a["pizza/circle1_fve_clock"] + 0.1
    assert b["pizza/circle1_fve_clock"] > b["pizza/circle1_fve_pizza"]
