"""The trainer's per-epoch hook: called once per finished epoch, and it does not change the run."""
import numpy as np
import torch

from mmdc_lib.config import preset
from mmdc_lib.data import load_digits_images
from mmdc_lib.estimator import images_to_uint8_nchw
from mmdc_lib.train import Trainer


def small_run():
    data = load_digits_images()
    images, _ = images_to_uint8_nchw(data.images[:200])
    config = preset("digits")
    config.epochs, config.lr_milestones = 3, (2,)
    return config, images, data.labels[:200]


def test_on_epoch_end_sees_every_epoch_and_leaves_the_result_unchanged():
    config, images, labels = small_run()
    plain = Trainer(config, images, labels=labels, device="cpu", progress=False).fit()
    seen = []

    def record(trainer, entry):
        seen.append((entry["epoch"], trainer.embed_all().shape))

    hooked = Trainer(config, images, labels=labels, device="cpu", progress=False).fit(on_epoch_end=record)
    assert seen == [(1, (200, 10)), (2, (200, 10)), (3, (200, 10))]
    assert torch.equal(plain.embeddings, hooked.embeddings)
    np.testing.assert_array_equal(plain.labels, hooked.labels)
