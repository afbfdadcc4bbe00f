#!/usr/bin/env bash
# Every GPU check in one run (a lent device gives 15 minutes a session; steps 1-4 took 4 minutes on an H200
# before the command-line and CUDA-graph tests and runs were added; the timeouts add up to 540 s, under the
# device's 600 s a command, and each step's results are copied to $OUT as soon as it ends):
#   1. the CUDA tests (tests/test_gpu.py; whole-step CUDA graphs among them);
#   2. throughput of one CIFAR-10-shaped epoch, library (plain steps, and whole-step CUDA graphs) against the
#      authors'-style reference, with 3-epoch library runs (the last epoch refines, so k-means is timed) and
#      the 400-epoch projections;
#   3. STL-10-shaped epochs (96x96 images, 64 px input) for speed and peak memory, both library paths;
#   4. benchmarks/scaling.py with one process on the GPU;
#   5. where an epoch's time goes with CUDA graphs (benchmarks/profile_epoch.py --cuda-graphs, 8,192 images,
#      as the committed eager profile_epoch_cifar10_gpu.txt; a plain epoch timed beside it).
#      torch.compile's reduce-overhead was measured on 2026-11-30 (profile_epoch_cifar10_gpu_reduce-overhead.txt).
# Random uint8 images of the right shape stand in for the data sets (nothing can be downloaded there).
# Usage on the device machine, from the repository root: bash benchmarks/gpu_check.sh
# Results: benchmarks/results/throughput_*_gpu.{json,md}, scaling_cuda.*, profile_epoch_cifar10_gpu_cuda-graphs.txt,
# copied to $OUT when it is set.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
PYTHON=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PYTHON -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
status=0
copy_out() {  # after every step: a run cut short keeps what it measured
    if [ -n "${OUT:-}" ]; then cp benchmarks/results/throughput_*_gpu.* benchmarks/results/scaling_cuda.* benchmarks/results/profile_epoch_*gpu*.txt "$OUT"/ 2>/dev/null || true; fi
}
timeout 140 $PYTHON -m pytest tests/test_gpu.py -q -p no:cacheprovider -o addopts="" || status=1
timeout 220 $PYTHON benchmarks/throughput.py --device cuda --images 60000 --epochs 3 --cuda-graphs || status=1
copy_out
timeout 80 $PYTHON benchmarks/throughput.py --device cuda --preset stl10 --images 13000 --epochs 3 --skip-reference --cuda-graphs || status=1
copy_out
# 4. the single-GPU figure of the torchrun scaling workload (one process; several GPUs are not lent)
timeout 40 $PYTHON benchmarks/scaling.py --processes 1 --device cuda || status=1  # the CPU table's digits workload
copy_out
profile=benchmarks/results/profile_epoch_cifar10_gpu_cuda-graphs.txt
timeout 60 $PYTHON benchmarks/profile_epoch.py --device cuda --images 8192 --cuda-graphs > $profile 2>&1 || status=1
grep -E "^epoch seconds|^plain steps|^CUDA graphs against|^device busy" $profile
copy_out
exit $status
