import dataclasses
import math

import pytest
import torch

from mmdc_lib.augment import apply_view, augment_batch, clean_view, color_jitter, cutout, draw_view_params, random_grayscale
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


def test_digits_preset_clean_view_is_resampled_not_the_pixels_themselves(batch):
    # a centre crop of 0.95 at the images' own size samples between their pixels
    eval_crop = preset("digits").augment.eval_crop
    out = clean_view(batch, 12, eval_crop=eval_crop)
    assert eval_crop < 1
    assert not torch.allclose(out, batch.float() / 255, atol=1e-3)
    assert torch.allclose(out[..., 5:7, 5:7], batch[..., 5:7, 5:7].float() / 255, atol=0.1)  # the centre barely moves


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


def test_square_crops_draw_no_aspect_so_earlier_runs_keep_their_random_stream():
    square = AugmentConfig(crop_scale=(0.8, 1.2), translate=0.2, rotation_degrees=25.0)
    params = draw_view_params(6, square, torch.Generator().manual_seed(0), 12)
    assert "aspect" not in params
    stretched = dataclasses.replace(square, aspect_ratio=(0.5, 2.0))
    drawn = draw_view_params(6, stretched, torch.Generator().manual_seed(0), 12)
    assert all(torch.equal(drawn[key], params[key]) for key in params if key != "shift")  # ratios drawn last
    assert ((drawn["aspect"] >= 0.5) & (drawn["aspect"] <= 2.0)).all()
    assert torch.equal(drawn["shift"].sign(), params["shift"].sign())  # the same draws, scaled per side


def test_square_crops_shift_within_the_spare_side_plus_translate_as_before():
    config = AugmentConfig(crop_scale=(0.6, 1.2), translate=0.2, rotation_degrees=25.0)
    params = draw_view_params(64, config, torch.Generator().manual_seed(5), 12)
    replay = torch.Generator().manual_seed(5)
    scale = 0.6 + (1.2 - 0.6) * torch.rand(64, generator=replay)
    unit = 2 * torch.rand(64, 2, generator=replay) - 1
    assert torch.equal(params["scale"], scale)
    assert torch.equal(params["shift"], unit * (0.2 + (1.0 - scale[:, None]).clamp(min=0) / 2) * 2)


def _bar_view(aspect: float, degrees: float) -> torch.Tensor:
    """A centred bar of 8 rows x 4 columns in a 20 x 20 image, viewed with one aspect ratio and angle."""
    bar = torch.zeros(1, 1, 20, 20, dtype=torch.uint8)
    bar[..., 6:14, 8:12] = 255
    config = AugmentConfig(aspect_ratio=(0.5, 2.0))
    params = draw_view_params(1, config, torch.Generator().manual_seed(0), 20)
    params["aspect"], params["angle"] = torch.tensor([aspect]), torch.tensor([math.radians(degrees)])
    params["shift"] = torch.zeros(1, 2)  # centred (the drawn shift fits the drawn ratio, not this one)
    return apply_view(bar, 20, config, params)[0, 0]


def _ink_extent(view: torch.Tensor) -> tuple[float, float]:
    """(rows, columns) of a view, counted as ink mass over its brightest row and column."""
    return (view.sum() / view.sum(dim=1).max()).item(), (view.sum() / view.sum(dim=0).max()).item()


def test_aspect_ratio_two_stretches_a_bar_by_two_in_height_over_width_keeping_its_area():
    square = _bar_view(1.0, 0.0)
    assert torch.equal(square > 0.5, (torch.arange(20)[:, None] - 9.5).abs().lt(4) & (torch.arange(20) - 9.5).abs().lt(2))
    rows, columns = _ink_extent(square)
    assert (rows, columns) == pytest.approx((8, 4), abs=0.01)
    stretched = _bar_view(2.0, 0.0)
    rows2, columns2 = _ink_extent(stretched)
    assert rows2 / columns2 == pytest.approx(2 * rows / columns, rel=0.1)  # a crop sqrt(2) wider, sqrt(2) shorter
    assert stretched.sum().item() == pytest.approx(32, rel=0.1)  # the same area of ink (bilinear edges aside)


def test_a_stretched_crop_shifts_only_along_the_side_where_it_is_narrower_than_the_image():
    config = AugmentConfig(aspect_ratio=(2.0, 2.0))  # width sqrt(2) of the image, height 1/sqrt(2)
    shift = draw_view_params(256, config, torch.Generator().manual_seed(0), 20)["shift"]
    assert torch.equal(shift[:, 0], torch.zeros(256))  # wider than the image: centred
    room = (1 - 2 ** -0.5) / 2 * 2  # half the spare height, in coordinates spanning 2
    assert shift[:, 1].abs().max() <= room + 1e-6 and shift[:, 1].abs().max() > 0.9 * room


def test_the_crop_is_stretched_along_the_images_axes_before_the_rotation():
    # stretched first (about 11.3 rows x 2.8 columns), then turned a quarter: about 2.8 rows x 11.3 columns.
    rows, columns = _ink_extent(_bar_view(2.0, 90.0))
    assert columns > 8 * 1.2 and rows < 4 / 1.2
    # the other order (turned, then stretched along the view's axes) would give about 5.7 x 5.7.


# --- the authors' pipeline, checked against torchvision -----------------------------
import torchvision.transforms.functional as TF

from mmdc_lib.augment import shift_hue


def test_whole_pixel_crop_and_resize_equal_interpolate_on_the_crop():
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    config = AugmentConfig(crop_sizes=(20 / 32, 16 / 32), eval_crop=20 / 32)
    params = draw_view_params(3, config, torch.Generator().manual_seed(2), 32)
    views = apply_view(images, 32, config, params)
    for i in range(3):
        side, (x, y) = int(params["crop"][i]), params["offset"][i].tolist()
        assert side in (20, 16) and 0 <= x <= 32 - side and 0 <= y <= 32 - side
        crop = images[i : i + 1, :, y : y + side, x : x + side].float() / 255
        expected = torch.nn.functional.interpolate(crop, size=32, mode="bilinear", align_corners=False)
        assert torch.allclose(views[i : i + 1], expected, atol=1e-6)


def test_whole_pixel_clean_view_is_torchvisions_centre_crop_then_resize():
    images = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    view = clean_view(images, 32, 24 / 28, whole_pixel=True)
    expected = TF.resize(TF.center_crop(images.float() / 255, [24, 24]), [32, 32], antialias=False)
    assert torch.allclose(view, expected, atol=1e-5)


def test_hue_shift_equals_torchvisions_adjust_hue():
    images = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    shifts = torch.tensor([0.1, -0.125, 0.45, 0.0])
    expected = torch.stack([TF.adjust_hue(images[i], float(shifts[i])) for i in range(4)])
    assert torch.allclose(shift_hue(images, shifts), expected, atol=1e-5)


def test_colour_jitter_applies_torchvisions_four_operations_in_each_images_random_order():
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    params = draw_view_params(6, AugmentConfig(color_jitter=(0.4, 0.4, 0.4, 0.125)), torch.Generator().manual_seed(1), 8)
    assert len({tuple(order.tolist()) for order in params["jitter_order"]}) > 1
    operations = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    expected = []
    for image, factors, order in zip(images, params["jitter"], params["jitter_order"]):
        for index in order.tolist():
            image = operations[index](image, float(factors[index]))
        expected.append(image)
    assert torch.allclose(color_jitter(images, (0.4, 0.4, 0.4, 0.125), params=params), torch.stack(expected), atol=1e-4)


def test_authors_pipeline_jitters_the_whole_image_before_cropping():
    # Contrast blends with the mean of the image it is given: the whole image, not the crop.
    images = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    images[..., 16:] = 255  # right half white: the whole image's mean is 0.5
    config = AugmentConfig(crop_sizes=(8 / 32,), eval_crop=8 / 32, color_jitter=(0.0, 0.5, 0.0, 0.0))
    params = draw_view_params(1, config, torch.Generator().manual_seed(0), 32)
    params["offset"][:] = 0  # a crop inside the black half
    params["jitter"][0, 1] = 0.6  # contrast: 0.6 x image + 0.4 x mean
    view = apply_view(images, 8, config, params)
    assert torch.allclose(view, torch.full_like(view, 0.4 * 0.5), atol=1e-6)  # a crop's own mean would give 0


def test_authors_rotation_turns_the_whole_image_about_its_centre_with_zero_fill():
    images = torch.full((1, 1, 28, 28), 255, dtype=torch.uint8)
    config = AugmentConfig(crop_sizes=(1.0,), eval_crop=1.0, rotation_degrees=45.0)
    params = draw_view_params(1, config, torch.Generator().manual_seed(0), 28)
    params["angle"][:] = math.pi / 4
    view = apply_view(images, 28, config, params)[0, 0]
    assert view[14, 14] == 1.0 and view[0, 0] == 0.0  # centre kept, corners filled with zeros


def test_cutout_zeroes_a_square_of_its_side_about_each_centre_clipped_at_the_border():
    views = torch.ones(2, 3, 8, 8)
    holes = cutout(views, 0.5, torch.tensor([[0.5, 0.5], [0.0, 0.0]])) == 0  # (2, 3, 8, 8)
    assert holes[0, :, 2:6, 2:6].all() and holes[0].sum() == 3 * 16  # a 4x4 square in every channel
    assert holes[1, :, :2, :2].all() and holes[1].sum() == 3 * 4  # a corner: the part inside the view


def test_cutout_off_draws_nothing_so_earlier_runs_keep_their_random_stream(batch):
    off = AugmentConfig(crop_scale=(0.8, 1.2), translate=0.2, rotation_degrees=25.0)
    on = dataclasses.replace(off, cutout=0.5)
    params_off = draw_view_params(6, off, torch.Generator().manual_seed(0), 12)
    params_on = draw_view_params(6, on, torch.Generator().manual_seed(0), 12)
    assert "cutout" not in params_off and params_on["cutout"].shape == (6, 2)
    assert all(torch.equal(params_on[key], params_off[key]) for key in params_off)
    with_holes, without = apply_view(batch, 12, on, params_on), apply_view(batch, 12, off, params_off)
    assert ((with_holes == without) | (with_holes == 0)).all() and (with_holes == 0).sum() > (without == 0).sum()
