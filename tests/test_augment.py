import dataclasses

import pytest
import torch

from mmdc_lib.augment import augment_batch, clean_view, color_jitter, random_grayscale
from mmdc_lib.config import AugmentConfig, preset


@pytest.fixture
def batch():
    return torch.randint(0, 256, (6, 3, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ["digits", "cifar10", "stl10", "mnist"])
def test_augmented_batch_has_requested_size_dtype_device_and_range(batch, name):
    config = preset(name).augment
    out = augment_batch(batch, 16, config, torch.Generator().manual_seed(0))
    assert out.shape == (6, 3, 16, 16)
    assert out.dtype == torch.float32
    assert out.device == batch.device
    assert out.min() >= 0 and out.max() <= 1


def test_clean_view_of_whole_image_at_same_size_is_the_image(batch):
    out = clean_view(batch, 12, eval_crop=1.0)
    assert torch.allclose(out, batch.float() / 255, atol=1e-5)


def test_augmentation_is_fixed_by_the_generator_seed(batch):
    config = preset("cifar10").augment
    first = augment_batch(batch, 16, config, torch.Generator().manual_seed(3))
    second = augment_batch(batch, 16, config, torch.Generator().manual_seed(3))
    third = augment_batch(batch, 16, config, torch.Generator().manual_seed(4))
    assert torch.equal(first, second)
    assert not torch.equal(first, third)


def test_no_augmentation_equals_the_clean_view(batch):
    out = augment_batch(batch, 16, AugmentConfig(), torch.Generator().manual_seed(0))
    assert torch.allclose(out, clean_view(batch, 16), atol=1e-6)


def test_horizontal_flip_mirrors_images():
    images = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    images[..., :4] = 255  # left half white
    out = augment_batch(images, 8, AugmentConfig(hflip=True), torch.Generator().manual_seed(0))
    left_bright = out[..., :4].mean(dim=(1, 2, 3)) > 0.5
    assert 0 < left_bright.sum() < 64  # some flipped, some not
    flipped = out[~left_bright]
    assert torch.allclose(flipped, clean_view(images[:1], 8).flip(3).expand_as(flipped), atol=1e-6)


def test_color_jitter_keeps_grayscale_images_single_channel_and_in_range():
    images = torch.rand(5, 1, 8, 8)
    out = color_jitter(images, (0.4, 0.4, 0.4, 0.125), torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1


def test_random_grayscale_with_p_one_makes_channels_equal(batch):
    out = random_grayscale(batch.float() / 255, 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])


def test_rotation_degrees_changes_images_but_zero_does_not(batch):
    still = augment_batch(batch, 12, AugmentConfig(rotation_degrees=0.0), torch.Generator().manual_seed(0))
    turned = augment_batch(batch, 12, dataclasses.replace(AugmentConfig(), rotation_degrees=30.0), torch.Generator().manual_seed(0))
    assert torch.allclose(still, batch.float() / 255, atol=1e-5)
    assert not torch.allclose(turned, still, atol=1e-2)
