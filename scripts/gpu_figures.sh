#!/usr/bin/env bash
# The GPU checks and figures in one go, for a machine with one CUDA card:
#   1. the gpu-marked tests (CUDA graphs against eager, the CUDA path, resume on CUDA),
#   2. scripts/bench.py on nanda_2023 (single run, ensembles of 1, 16 and 64, highest and high, graphs vs eager),
#   3. the effect of TF32 on grokking: nanda_2023 with seeds 0, 1, 2 at matmul_precision highest and high (a packed
#      sweep: two packs of three), and the grokking epochs per precision from grokscope-collect.
#
#     bash scripts/gpu_figures.sh [OUT_DIR] [MAX_EPOCHS]      # defaults: gpu_figures/, 20000
#
# Each step's output goes to OUT_DIR (tests.log, bench.txt, tf32/ and tf32.txt); a failing step does not stop
# the later ones, and the script exits non-zero if any failed.
set -u
out=${1:-gpu_figures}
epochs=${2:-20000}
mkdir -p "$out"
status=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/card.txt"

echo "== 1/3 gpu-marked tests"
python -m pytest -m gpu -n 0 -p no:cacheprovider -q 2>&1 | tee "$out/tests.log" | tail -5 || status=1
grep -q " passed" "$out/tests.log" && ! grep -q " failed" "$out/tests.log" || status=1

echo "== 2/3 benchmark"
python scripts/bench.py --experiments nanda_2023 --epochs 3000 --repeats 3 device=cuda 2>&1 | tee "$out/bench.txt" \
    || status=1

echo "== 3/3 TF32 and grokking ($epochs epochs)"
grokscope-train -m hydra/launcher=packed experiment=nanda_2023 device=cuda seed=0,1,2 \
    matmul_precision=highest,high max_epochs="$epochs" snapshot_every_n_epochs=null plots=false logger=csv \
    progress_bar=false hydra.sweep.dir="$out/tf32" > "$out/tf32.log" 2>&1 || status=1
grokscope-collect "$out/tf32" --plot grok_epoch/test --x matmul_precision > "$out/collect.log" 2>&1 || status=1
python - "$out/tf32/runs.csv" <<'EOF' | tee "$out/tf32.txt" || status=1
import csv, sys
print("overrides | status | grok_epoch/test")
for row in csv.DictReader(open(sys.argv[1])):
    print(row["overrides"], "|", row["status"], "|", row["grok_epoch/test"] or "never")
EOF
exit $status
