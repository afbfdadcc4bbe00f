"""The trainer's per-epoch hook: called once per finished epoch, and it does not change the run."""
import numpy as np
import torch

from mmdc_lib.config import preset
from mmdc_lib.data import load_digits_images
from mmdc_lib.estimator import images_to_uint8_nchw
from mmdc_lib.train import Trainer, mmdc_loss


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


def test_mmdc_loss_is_squared_distance_plus_weighted_rotation_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    embeddings, targets = torch.randn(6, 4, generator=generator), torch.randn(6, 4, generator=generator)
    logits, turns = torch.randn(6, 4, generator=generator), torch.randint(4, (6,), generator=generator)
    total, mse, rotation = mmdc_loss(embeddings, targets, logits, turns, rotation_weight=0.25)
    expected_mse = ((embeddings - targets) ** 2).sum(dim=1).mean()
    expected_rotation = -torch.log_softmax(logits, dim=1)[torch.arange(6), turns].mean()
    assert torch.allclose(mse, expected_mse) and torch.allclose(rotation, expected_rotation)
    assert torch.allclose(total, expected_mse + 0.25 * expected_rotation)


def test_mmdc_loss_without_rotation_is_the_mse_alone():
    embeddings, targets = torch.ones(3, 2), torch.zeros(3, 2)
    total, mse, rotation = mmdc_loss(embeddings, targets)
    assert total.item() == mse.item() == 2.0 and rotation.item() == 0.0
