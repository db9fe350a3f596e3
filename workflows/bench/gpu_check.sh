#!/usr/bin/env bash
# A lent GPU's one script (issue 13): the CUDA half of the test suite, then the GPU benchmarks,
# eager beside recorded CUDA graphs in the same run (infer --example recorded only unless
# GPU_CHECK_INFER_MODES=cuda-graph,off: eager adds 2 minutes). About 5 minutes on an H200 before
# the fused MNIST step (not yet timed there: its compiling may take minutes); GPU_CHECK_STEPS
# picks steps (the default runs them all, most wanted first) when the lease is short.
#
# Prepare on the development machine, once (wheels for the packages the GPU image lacks, MNIST):
#   DEVICE_PREP_PACKAGES="cyvcf2==0.35.0 scikit-allel==1.3.13 coloredlogs==15.0.1 \
#     humanfriendly==10.0 dask==2026.8.0 pgenlib==0.95.1 partd==1.4.2 locket==1.0.0" \
#     bash ../shared/tools/device-prep
# Run there from the repository root, carrying .device-carry:
#   DDVI_GENOMICS_COMMIT=<sha> bash workflows/bench/gpu_check.sh
# Results (.json + .md per benchmark, one log) land in $OUT, else workflows/results/gpu.
# A dry run on a CPU machine checks the script itself (every mode eager, a small MNIST subset):
#   GPU_CHECK_DRY=1 GPU_CHECK_DEVICE=cpu GPU_CHECK_MODES=off GPU_CHECK_INFER_MODES=off \
#     GPU_CHECK_MNIST_MODES=off GPU_CHECK_MNIST_FUSED_MODES=off GPU_CHECK_FUSED_MODES=off \
#     GPU_CHECK_SUBSET=512 MNIST_DIR=../shared/data/mnist OUT=/tmp/gpu_check \
#     PYTHON=.venv/bin/python bash workflows/bench/gpu_check.sh
set -uo pipefail
# results are written to a work folder, then packed into one archive (the device tool brings
# back at most 8 files) beside copies of the tables and the log
dest=${OUT:-workflows/results/gpu}
out=$(mktemp -d)
pack() {
    cp "$out"/*.md "$out"/gpu_check.log "$dest"/ 2>/dev/null
    tar -C "$out" -czf "$dest/gpu_check.tgz" .
}
trap pack EXIT
device=${GPU_CHECK_DEVICE:-cuda}
modes=${GPU_CHECK_MODES:-off,cuda-graph}
py=${PYTHON:-python3}
mkdir -p "$dest"
if [ -z "${GPU_CHECK_DRY:-}" ]; then
    # shellcheck source=/dev/null
    source .device-carry/env.sh
fi
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
log="$out/gpu_check.log"
: > "$log"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log everything, show the end
    local name=$1 limit=$2
    shift 2
    local t0
    t0=$(date +%s)
    echo "== $name: $*" | tee -a "$log"
    timeout "$limit" "$@" >> "$log" 2>&1
    local rc=$?
    echo "== $name: exit $rc after $(($(date +%s) - t0)) s" | tee -a "$log"
    pack  # what is done so far is kept even if a later step overruns the call's limit
}

# default order: the open questions of issue 13 first (CUDA tests, infer <= 30 s, the MNIST
# protocol <= 10 min), then throughput tables already measured once
steps=${GPU_CHECK_STEPS:-tests,infer,mnist,stage2,mnist_fused,family,fused}
want() { [[ ",$steps," == *",$1,"* ]]; }
if want tests; then
    step cuda_tests 150 "$py" -m pytest -q -p no:cacheprovider -k cuda tests/core
    tail -n 4 "$log"
fi
if want infer; then
    step infer_example 160 "$py" -m workflows.bench.infer_example --device "$device" \
        --compile "${GPU_CHECK_INFER_MODES:-cuda-graph}" --out "$out"  # off: +2 min
fi
if want mnist; then  # two epochs per phase: the recording is counted once in the projection
    step mnist_epoch 120 "$py" -m workflows.bench.mnist_epoch --device "$device" \
        --compile "${GPU_CHECK_MNIST_MODES:-cuda-graph}" --epochs 2 --out "$out" \
        ${MNIST_DIR:+--data-dir "$MNIST_DIR"} ${GPU_CHECK_SUBSET:+--subset "$GPU_CHECK_SUBSET"}
fi
if want stage2; then
    step ddvi_throughput 120 "$py" -m workflows.bench.ddvi_throughput --device "$device" \
        --compile "$modes" --batches 100 --out "$out" ${MNIST_DIR:+--mnist-dir "$MNIST_DIR"}
fi
if want mnist_fused; then  # torch.compile inside each phase's recorded steps: compiling first
    mkdir -p "$out/fused"
    step mnist_epoch_fused 300 "$py" -m workflows.bench.mnist_epoch --device "$device" \
        --compile "${GPU_CHECK_MNIST_FUSED_MODES:-cuda-graph-fused}" --epochs 2 \
        --out "$out/fused" ${MNIST_DIR:+--data-dir "$MNIST_DIR"} \
        ${GPU_CHECK_SUBSET:+--subset "$GPU_CHECK_SUBSET"}
    for f in "$out"/fused/*; do mv "$f" "$out/fused_$(basename "$f")"; done
    rmdir "$out/fused"
fi
if want family; then
    step family_throughput 150 "$py" -m workflows.bench.family_throughput --device "$device" \
        --compile "$modes" --families ddvi,ddvi_semi_batched --batches 50 --semi-batches 3 \
        --out "$out" ${MNIST_DIR:+--mnist-dir "$MNIST_DIR"}
fi
if want fused; then  # torch.compile inside the recorded step: minutes of compiling first
    step ddvi_throughput_fused 200 "$py" -m workflows.bench.ddvi_throughput --device "$device" \
        --compile "${GPU_CHECK_FUSED_MODES:-cuda-graph-fused}" --batches 100 --out "$out" \
        --stem-suffix _fused ${MNIST_DIR:+--mnist-dir "$MNIST_DIR"}
fi
for f in "$out"/*.md; do
    sed -n '/^|/p' "$f"
done
