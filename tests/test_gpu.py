"""GPU checks: run where CUDA is available (the lent GPU machine, Colab); skipped on CPU-only CI."""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmdc_lib import MMDC
from mmdc_lib.augment import augment_batch
from mmdc_lib.config import preset

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


def test_augmentation_stays_on_the_gpu():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, device="cuda")
    out = augment_batch(images, 32, preset("cifar10").augment, torch.Generator().manual_seed(0))
    assert out.device.type == "cuda" and out.shape == (8, 3, 32, 32)


def test_estimator_trains_on_the_gpu_with_device_auto():
    images = np.random.default_rng(0).integers(0, 256, (64, 16, 16), dtype=np.uint8)
    model = MMDC(n_clusters=4, epochs=2, device="auto").fit(images)
    assert next(model._model.parameters()).device.type == "cuda" and model.labels_.shape == (64,)


def test_model_fitted_on_the_gpu_unpickles_and_predicts_on_a_cpu_only_machine(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (64, 16, 16), dtype=np.uint8)
    model = MMDC(n_clusters=4, epochs=2, device="auto").fit(images)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    np.save(tmp_path / "images.npy", images)
    script = (
        "import pickle, sys, numpy as np, torch\n"
        "assert not torch.cuda.is_available()\n"
        "model = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(model.predict(np.load(sys.argv[2])).tolist())\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.pkl"), str(tmp_path / "images.npy")],
                            capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr
    assert (np.array(json.loads(result.stdout)) == model.labels_).mean() > 0.95  # CPU and GPU kernels differ slightly
