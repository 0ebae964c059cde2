"""The measures now computed by torchmetrics equal the hand-written definitions they replace, on the same inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import r2_score

from grokscope.analysis.signal_ode import fit_linear_ode
from grokscope.analysis.survival import pearson
from grokscope.metrics.circles import fraction_of_variance_explained


def test_fraction_of_variance_explained_equals_the_z_scored_formula():
    g = torch.Generator().manual_seed(0)
    values = torch.randn(7, 7, 5, dtype=torch.float64, generator=g)
    template = values + 0.7 * torch.randn(7, 7, 5, dtype=torch.float64, generator=g)

    def z(x):
        return (x - x.mean()) / x.std(correction=0)

    by_hand = (1 - (z(values) - z(template)).var(correction=0)).item()
    assert abs(fraction_of_variance_explained(values, template) - by_hand) < 1e-12
    assert 0.2 < by_hand < 0.9  # a partial fit, not a degenerate 0 or 1


def test_ode_r2_equals_sklearns():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(40, 3)), axis=0)
    fit = fit_linear_ode(x)
    inputs, increments = x[:-1], np.diff(x, axis=0)
    assert abs(fit.r2 - r2_score(increments, inputs @ fit.A.T + fit.b)) < 1e-12


def test_survival_pearson_equals_numpys():
    rng = np.random.default_rng(1)
    signal = rng.uniform(size=60)
    table = pd.DataFrame({"initial_signal": signal, "survived": signal + rng.normal(0, 0.3, 60) > 0.5})
    by_hand = np.corrcoef(table["initial_signal"], table["survived"].astype(float))[0, 1]
    assert abs(pearson(table) - by_hand) < 1e-12 and by_hand > 0.3

