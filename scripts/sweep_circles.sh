#!/usr/bin/env bash
# Circle-survival sweeps (Ding et al. 2024; reference/circle_survival.md §5, §7): a Hydra multirun of
# experiment=circle_survival per mode, then its analysis (grokscope-analyze collect, or circles perturb|construct|
# ablate into SWEEP_DIR/analysis) in SWEEP_DIR (default multirun/circles_MODE).
#
#   scripts/sweep_circles.sh dim        # d = 16..128 x 5 seeds -> final circles/n_circles vs d (collect --plot)
#   scripts/sweep_circles.sh frozen     # the same with intervention=freeze_embedding -> test/acc vs d
#   scripts/sweep_circles.sh p          # primes p = 23..83 x 5 seeds -> circles/n_circles vs p
#   scripts/sweep_circles.sh wd         # weight decay 0.1..1.5 x 5 seeds -> circles/n_circles vs wd
#   scripts/sweep_circles.sh perturb    # embedding of seed R, strongest k0 scaled by N_ALPHA alphas in 0.85..1.15
#                                       #   x 5 seeds -> survival of k0 vs alpha s_k0 - mean s (circles perturb)
#   scripts/sweep_circles.sh construct  # amplitudes [80, 80 m], m = exp(linspace(-4, 0, N_M)), MLP and split of
#                                       #   seed R, random pair per seed x 10 seeds -> survival of c1, c2 vs m
#   scripts/sweep_circles.sh ablate     # run O (seed R), then A/B (keep O's 1/2 strongest final circles), C {1},
#                                       #   D {1,2} at init, DC removed -> final loss/acc and circles per run
#   scripts/sweep_circles.sh dim max_epochs=2000 seed=0,1 hydra/launcher=joblib   # a reduced CPU reproduction
#
# Extra arguments are grokscope-train overrides; later ones win (seed=0,1 replaces the seed grid). Environment:
# SWEEP_DIR, R (reference seed, 0), N_ALPHA (7; the paper 50), N_M (4; the paper 16). Running the same command
# again skips finished jobs.
set -euo pipefail
usage="usage: scripts/sweep_circles.sh dim|frozen|p|wd|perturb|construct|ablate [grokscope-train overrides...]"
mode=${1:-}
[[ $# -gt 0 ]] && shift
R=${R:-0}
seeds=seed=0,1,2,3,4
grid() { python -c "import numpy as np; print(','.join('$2'.format(v) for v in $1))"; }  # numpy expr, format
circles=(python -m grokscope.cli.analyze collect DIR --plot circles/n_circles --x)
sweeps=(python -m grokscope.cli.analyze circles)
case $mode in
  dim) grid=(model.d_embed=16,32,64,96,128 "$seeds"); analysis=("${circles[@]}" model.d_embed) ;;
  frozen) grid=(intervention=freeze_embedding model.d_embed=16,32,64,96,128 "$seeds")
    analysis=(python -m grokscope.cli.analyze collect DIR --plot test/acc --x model.d_embed) ;;
  p) grid=(task.p=23,31,43,59,71,83 "$seeds"); analysis=("${circles[@]}" task.p) ;;
  wd) grid=(optimizer.weight_decay=0.1,0.3,0.5,0.9,1.5 "$seeds"); analysis=("${circles[@]}" optimizer.weight_decay) ;;
  perturb) grid=(intervention=perturb intervention.perturb.strongest=1 "seeds.embedding=$R" "$seeds"
    "intervention.perturb.alpha=$(grid "np.linspace(0.85, 1.15, ${N_ALPHA:-7})" '{:.4f}')")
    analysis=("${sweeps[@]}" perturb DIR) ;;
  construct) grid=(intervention=construct "seeds.model=$R" "seeds.data=$R" seed=0,1,2,3,4,5,6,7,8,9
    "intervention.construct.amplitudes=$(grid "80 * np.exp(np.linspace(-4, 0, ${N_M:-4}))" '[80,{:.4f}]')")
    analysis=("${sweeps[@]}" construct DIR) ;;
  ablate) grid=(); analysis=("${sweeps[@]}" ablate DIR) ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
dir=${SWEEP_DIR:-multirun/circles_$mode}
# no per-run snapshots (60-120 MB each at full length); add snapshot_every_n_epochs=100 for loss collaboration
train() { python -m grokscope.cli.train -m experiment=circle_survival logger=csv progress_bar=false \
  snapshot_every_n_epochs=null "$@"; }
if [[ $mode == ablate ]]; then
  train "seed=$R" "hydra.sweep.dir=$dir/O" "$@"
  keep=$("${sweeps[@]}" ablate-freqs "$dir/O/0_"*)
  train "seed=$R" intervention=ablate intervention.ablate.mode=keep intervention.ablate.dc=false \
    intervention.ablate.when=init "intervention.ablate.freqs=$keep" "hydra.sweep.dir=$dir/ABCD" "$@"
else
  train "${grid[@]}" "hydra.sweep.dir=$dir" "$@"
fi
"${analysis[@]/#DIR/$dir}"
