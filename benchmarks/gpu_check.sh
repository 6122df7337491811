#!/usr/bin/env bash
# Every GPU check in one run of a few minutes: CUDA tests (no host sync, AMP, compile, exact resume, ResNet-18),
# the command line on CUDA with AMP, a checkpoint and an exact resume, torchrun, and the two benchmarks.
# Prints each figure with the card's name; with OUT set, also writes the logs and JSON files there.
#   bash benchmarks/gpu_check.sh            (from the repository root, in an environment with minidgl's needs)
set -uo pipefail
OUT=${OUT:-$(mktemp -d)}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} MINIDGL_CACHE=off
CKPT=$(mktemp -d)
section() { echo; echo "== $1"; }

section "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"

section "CUDA tests"
timeout 240 python3 -m pytest tests/test_cuda.py tests/test_train.py -k "cuda or sync" -q -p no:cacheprovider 2>&1 \
    | tail -15 | tee "$OUT/pytest_cuda.txt"

section "command line on CUDA: float16 autocast, checkpoint, exact resume"
train="python3 -m minidgl train --dataset av-digits --encoder cnn --device cuda --amp float16 --quiet"
$train --epochs 4 --json "$CKPT/straight.json"
$train --epochs 2 --checkpoint "$CKPT/run.pt"
$train --epochs 4 --resume "$CKPT/run.pt" --json "$CKPT/resumed.json"
cmp -s "$CKPT/straight.json" "$CKPT/resumed.json" && echo "resume: identical history" || echo "resume: HISTORY DIFFERS"

section "torchrun on one GPU (NCCL)"
timeout 120 python3 -m torch.distributed.run --standalone --nproc_per_node 1 -m minidgl train --dataset av-digits --device cuda --epochs 2 \
    --quiet --json "$OUT/torchrun.json"

section "step cost (ratio to joint)"
timeout 150 python3 benchmarks/step_cost.py --quick --device cuda --json "$OUT/step_cost.json" 2>&1 | tail -8

section "throughput: loader vs ResNet-18 training (CREMA-D shapes)"
for amp in "" "--amp bfloat16"; do
    timeout 150 python3 benchmarks/throughput.py --device cuda --workers 12 --batch-size 64 --clips 1280 --batches 16 \
        --repeats 30 $amp --json "$OUT/throughput${amp:+_bf16}.json"
done
timeout 200 python3 benchmarks/throughput.py --device cuda --workers 12 --batch-size 64 --clips 1280 --batches 16 \
    --repeats 30 --amp bfloat16 --compile --json "$OUT/throughput_bf16_compile.json"
