"""GPU checks: run where CUDA is available (the lent GPU machine, Colab); skipped on CPU-only CI."""
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
    assert model._device.type == "cuda" and model.labels_.shape == (64,)
