#!/usr/bin/env bash
# Every GPU check in one run (a lent device gives 15 minutes a session; about 7 minutes: steps 1-4 took 4 on an
# H200 before the command-line tests were added, step 5 about 2; the timeouts add up to under 10):
#   1. the CUDA tests (tests/test_gpu.py);
#   2. throughput of one CIFAR-10-shaped epoch, library against the authors'-style reference, with a
#      3-epoch library run (its last epoch refines, so k-means is timed) and the 400-epoch projection;
#   3. STL-10-shaped epochs (96x96 images, 64 px input) for speed and peak memory;
#   4. benchmarks/scaling.py with one process on the GPU;
#   5. where an epoch's time goes (benchmarks/profile_epoch.py), eager against torch.compile's CUDA graphs
#      (4,096 images, as the committed profile_epoch_cifar10_gpu_reduce-overhead.txt).
# Random uint8 images of the right shape stand in for the data sets (nothing can be downloaded there).
# Usage on the device machine, from the repository root: bash benchmarks/gpu_check.sh
# Results: benchmarks/results/throughput_*_gpu.{json,md}, scaling_cuda.*, profile_epoch_cifar10_gpu_reduce-overhead.txt,
# copied to $OUT when it is set.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
PYTHON=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PYTHON -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
status=0
timeout 120 $PYTHON -m pytest tests/test_gpu.py -q -p no:cacheprovider -o addopts="" || status=1
timeout 200 $PYTHON benchmarks/throughput.py --device cuda --images 60000 --epochs 3 || status=1
timeout 60 $PYTHON benchmarks/throughput.py --device cuda --preset stl10 --images 13000 --epochs 3 --skip-reference || status=1
# 4. the single-GPU figure of the torchrun scaling workload (one process; several GPUs are not lent)
timeout 45 $PYTHON benchmarks/scaling.py --processes 1 --device cuda || status=1  # the CPU table's digits workload
profile=benchmarks/results/profile_epoch_cifar10_gpu_reduce-overhead.txt
timeout 150 $PYTHON benchmarks/profile_epoch.py --device cuda --images 4096 --compile reduce-overhead > $profile 2>&1 || status=1
tail -3 $profile
if [ -n "${OUT:-}" ]; then cp benchmarks/results/throughput_*_gpu.* benchmarks/results/scaling_cuda.* benchmarks/results/profile_epoch_*_gpu.txt "$OUT"/ 2>/dev/null || true; fi
exit $status
