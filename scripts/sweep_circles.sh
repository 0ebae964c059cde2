#!/usr/bin/env bash
# Circle survival vs embedding dimension (Ding et al. 2024; reference/circle_survival.md §7): experiment=circle_survival
# swept over d x seed, then the number of surviving circles (final circles/n_circles) against d, or, with a
# frozen random embedding, the test accuracy against d (the paper expects generalisation only for d >~ p = 59).
#
#   scripts/sweep_circles.sh dim [overrides...]      # d = 16..128 x 5 seeds, 30,001 steps
#   scripts/sweep_circles.sh frozen [overrides...]   # the same with intervention=freeze_embedding
#   scripts/sweep_circles.sh dim max_epochs=2000 seed=0,1 hydra/launcher=joblib   # a reduced CPU reproduction
#
# Later overrides win (e.g. seed=0,1 replaces the seed grid). Running the same command again skips finished jobs.
set -euo pipefail
usage="usage: scripts/sweep_circles.sh dim|frozen [grokscope-train overrides...]"
mode=${1:?$usage}
shift
case $mode in
  dim) grid=(); metric=circles/n_circles ;;
  frozen) grid=(intervention=freeze_embedding); metric=test/acc ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
dir=${SWEEP_DIR:-multirun/circles_$mode}
python -m grokscope.train -m experiment=circle_survival logger=csv progress_bar=false "${grid[@]}" \
    model.d_embed=16,32,64,96,128 seed=0,1,2,3,4 "hydra.sweep.dir=$dir" "$@"
python -m grokscope.analysis.collect "$dir" --plot "$metric" --x model.d_embed
