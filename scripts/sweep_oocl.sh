#!/usr/bin/env bash
# The OOCL question (reference/oocl.md §1) on a CPU: is there a holdout fraction where table 1 alone,
# (k1, k2, k3) = (1, 0, 0), fails to generalise but table 1 + alias table + linkages, (1, 1, 1), succeeds?
# 3 objectives x 3 holdout fractions (h1 = h2, independent masks) x 2 seeds = 18 runs of experiment=oocl_small
# (about 17 minutes of one CPU core), then the table (CSV + markdown) and plot of the sweep.
#
#   scripts/sweep_oocl.sh [OUT_DIR]        # OUT_DIR (default: the sweep dir) receives oocl_summary.md etc.
set -euo pipefail
sweep_dir="multirun/oocl_small_$(date +%Y-%m-%d_%H-%M-%S)"
grokscope-train -m experiment=oocl_small logger=csv hydra.sweep.dir="$sweep_dir" \
    +oocl_weights=k100,k110,k111 task.holdout1=0.6,0.7,0.8 seed=0,1
grokscope-analyze oocl "$sweep_dir" --out "${1:-$sweep_dir}"
