#!/usr/bin/env bash
# Clock vs pizza phase diagrams (Zhong et al. 2023; reference/pizza.md §5): the one-layer transformer of
# experiment=pizza_2023 swept over the attention rate α in [0, 1] x seed (x width for the width diagram), then
# plotted with grokscope-analyze phase-diagram (runs with circularity >= 0.995, as in the paper).
#
#   scripts/sweep_pizza.sh local                   # 5 α values x 1 seed, d_model 128, 3000 epochs, 2 processes
#   scripts/sweep_pizza.sh fixed_width <cluster>   # 21 α values x 10 seeds, d_model 128, 20k epochs (Slurm)
#   scripts/sweep_pizza.sh width <cluster>         # 21 α values x 9 widths 32..512 x 3 seeds, 20k epochs (Slurm)
#
# <cluster> selects conf/local/<cluster>.yaml (partition, account, time limit...: see the README's "Sweeps").
# Further arguments go to grokscope-train, e.g. `scripts/sweep_pizza.sh local max_epochs=500`. Running the same
# command again after a crash or pre-emption skips the finished jobs and resumes the others from checkpoints.
set -euo pipefail

usage="usage: scripts/sweep_pizza.sh local|fixed_width|width [cluster] [grokscope-train overrides...]"
mode=${1:?$usage}
shift
alphas=0,0.05,0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9,0.95,1
case $mode in
  local)
    grid=(hydra/launcher=joblib hydra.launcher.n_jobs=2 model.attention_rate=0,0.25,0.5,0.75,1 seed=0
          max_epochs=3000)
    plot=(--min-circularity 0)   # 3000 epochs are too few for the paper's 0.995 threshold
    ;;
  fixed_width | width)
    cluster=${1:?the $mode sweep runs on Slurm: name your conf/local/<cluster>.yaml}
    shift
    grid=(hydra/launcher=slurm "local=$cluster" "model.attention_rate=$alphas")
    if [[ $mode == fixed_width ]]; then
      grid+=(model.d_model=128 seed=0,1,2,3,4,5,6,7,8,9)
    else  # widths divisible by n_heads = 4 (d_head = d_model / 4), log-spaced over the paper's [32, 512)
      grid+=(model.d_model=32,48,64,96,128,192,256,384,512 seed=0,1,2)
    fi
    plot=()
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
dir=multirun/pizza_$mode
python -m grokscope.cli.train -m experiment=pizza_2023 "${grid[@]}" "hydra.sweep.dir=$dir" "$@"
python -m grokscope.cli.analyze phase-diagram "$dir" "${plot[@]}"
